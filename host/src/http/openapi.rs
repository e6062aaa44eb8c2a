//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the answer shapes below; served at `/api/openapi.json`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::schema::*;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme("token_query", SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("token"))));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "imgbed", description = "Self-hosted image host; API compatible with mgek img_bed."),
    paths(
        super::upload::upload,
        super::images::list,
        super::images::info,
        super::images::format,
        super::images::delete,
        super::images::init_db,
        super::account::get_token,
        super::account::remove_token_get,
        super::account::remove_token_post,
        super::account::mail_for_reset,
        super::admin::users,
        super::admin::remove_user,
        super::policy_admin::show,
        super::policy_admin::replace,
        super::policy_admin::rollback,
        super::shadow_admin::show,
        super::shadow_admin::load,
        super::shadow_admin::promote,
        super::shadow_admin::drop_shadow,
        super::serve::image,
        super::serve::thumb,
        super::healthz,
        super::ready,
        super::metrics::metrics,
        openapi_json,
        super::ui::uploader::uploader_config,
        super::ui::delete_link::show,
        super::ui::delete_link::confirm,
    ),
    components(schemas(Envelope, ErrorBody, ImageView, UploadAnswer, ListAnswer, InfoAnswer, Snippets, FormatAnswer, TokenAnswer, MailBody, NamesBody, RemoveBody, RemoveUserBody, UploadForm)),
    modifiers(&Security),
    security((), ("bearer" = []), ("token_query" = [])),
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", responses((status = 200, description = "The OpenAPI document")))]
pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
