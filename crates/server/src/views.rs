//! How a handler's answer becomes the API's contract: a handler answers the model's value
//! (which the `/seam` surface also reads), and [`View`] serialises it as its type of
//! [`lockbridge_api`] — the one place where a row becomes what `/v1` says.

use axum::Json;
use axum::response::{IntoResponse, Response};
use lockbridge_api as api;
use lockbridge_core::{events, grants, model, stays, webhooks};

/// A model value with a view in the API's contract.
pub trait Viewed {
    type View: serde::Serialize;
    fn view(&self) -> Self::View;
}

macro_rules! viewed {
    ($($model:ty => $view:ty),+ $(,)?) => {$(
        impl Viewed for $model {
            type View = $view;
            fn view(&self) -> $view {
                <$view>::from(self)
            }
        }
    )+};
}

viewed!(
    model::AccessCode => api::AccessCode,
    model::Lock => api::Lock,
    model::Gateway => api::Gateway,
    model::ApiKey => api::ApiKey,
    grants::Grant => api::Grant,
    events::Event => api::Event,
    webhooks::Webhook => api::Webhook,
    webhooks::Delivery => api::Delivery,
    stays::Property => api::Property,
    stays::Calendar => api::Calendar,
);

impl Viewed for crate::routes::webhooks::WebhookCreated {
    type View = api::WebhookCreated;
    fn view(&self) -> api::WebhookCreated {
        api::WebhookCreated {
            webhook: (&self.webhook).into(),
            secret: self.secret.clone(),
        }
    }
}

impl Viewed for crate::routes::stays::Stay {
    type View = api::Reservation;
    fn view(&self) -> api::Reservation {
        api::Reservation::new(&self.reservation, &self.access_codes)
    }
}

impl<T: Viewed> Viewed for api::Page<T> {
    type View = api::Page<T::View>;
    fn view(&self) -> Self::View {
        api::Page {
            data: self.data.iter().map(Viewed::view).collect(),
            next_cursor: self.next_cursor.clone(),
        }
    }
}

/// A handler's answer: the model's value, sent as its view.
#[derive(Debug)]
pub struct View<T>(pub T);

impl<T: Viewed> IntoResponse for View<T> {
    fn into_response(self) -> Response {
        Json(self.0.view()).into_response()
    }
}
