//! The catalogue of error codes the host itself answers with: each a stable code,
//! an HTTP status and the default message (the original's texts where it had one).
//! Codes a policy refuses with are the policy's own and pass through unchanged.

use axum::http::StatusCode;

macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $status:ident, $message:literal;)*) => {
        /// An error code of the host.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as answers carry it, e.g. `invalid_token`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The HTTP status it is answered with.
            pub fn status(self) -> StatusCode {
                match self { $(Code::$variant => StatusCode::$status,)* }
            }

            /// The default message.
            pub fn message(self) -> &'static str {
                match self { $(Code::$variant => $message,)* }
            }
        }
    };
}

catalogue! {
    // Requests
    BadRequest = "bad_request", BAD_REQUEST, "请求参数错误";
    BadJson = "bad_json", BAD_REQUEST, "请求的JSON格式错误";
    BadBody = "bad_body", BAD_REQUEST, "请求体读取失败";
    NoRoute = "no_route", NOT_FOUND, "接口不存在";
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, "请求方法不允许";
    /// A body or a file over its limit.
    TooLarge = "too_large", PAYLOAD_TOO_LARGE, "请求体过大";
    TooManyFiles = "too_many_files", PAYLOAD_TOO_LARGE, "文件数量超出限制";
    RateLimited = "rate_limited", TOO_MANY_REQUESTS, "请求过于频繁, 请稍后再试";
    IpDenied = "ip_denied", FORBIDDEN, "该地址已被禁止访问";
    // Identity and permission
    InvalidToken = "invalid_token", UNAUTHORIZED, "无效的密钥";
    NoAuthority = "no_authority", UNAUTHORIZED, "401 No Authority";
    Forbidden = "forbidden", FORBIDDEN, "无操作权限";
    // Accounts
    InvalidMail = "invalid_mail", BAD_REQUEST, "邮箱格式错误";
    Banned = "banned", FORBIDDEN, "该邮箱已被禁止注册";
    TokenExists = "token_exists", CONFLICT, "already exist";
    MissingFields = "missing_fields", BAD_REQUEST, "密钥删除失败,信息不全";
    RemoveFailed = "remove_failed", FORBIDDEN, "密钥删除失败";
    NoUser = "no_user", NOT_FOUND, "用户不存在";
    /// The uploader's account was removed (or banned) while the upload was being stored.
    AccountRemoved = "account_removed", FORBIDDEN, "账户已删除, 上传未保存";
    MailNotConfigured = "mail_not_configured", NOT_IMPLEMENTED, "邮件服务未配置";
    MailFailed = "mail_failed", BAD_GATEWAY, "请求找回错误";
    // Images
    EmptyUpload = "empty_upload", BAD_REQUEST, "空的上传文件";
    UploadFailed = "upload_failed", INTERNAL_SERVER_ERROR, "文件上传失败";
    NotFound = "not_found", NOT_FOUND, "图片信息获取失败";
    /// A deletion link whose key is not the image's.
    InvalidDeleteKey = "invalid_delete_key", FORBIDDEN, "删除链接无效";
    /// `uploader_config` for a client it has no config for.
    BadClient = "bad_client", BAD_REQUEST, "不支持的上传工具";
    RangeNotSatisfiable = "range_not_satisfiable", RANGE_NOT_SATISFIABLE, "请求的范围无效";
    /// A variant (`?w=`, `?format=`) outside the allow-lists, of a video, or with variants off.
    VariantNotAllowed = "variant_not_allowed", BAD_REQUEST, "不允许的图片变体";
    /// The source's pixels are over `variants.max_cost` (checked by the host before the
    /// policy is asked to make anything, whatever the policy checks itself).
    VariantTooCostly = "variant_too_costly", UNPROCESSABLE_ENTITY, "生成变体的代价过高";
    /// The active policy makes no variants (a component built for contract 2.0).
    VariantsUnsupported = "variants_unsupported", NOT_IMPLEMENTED, "当前策略不生成图片变体";
    // The policy
    PolicyBusy = "policy_busy", SERVICE_UNAVAILABLE, "策略暂时不可用, 请稍后重试";
    PolicyTimeout = "policy_timeout", SERVICE_UNAVAILABLE, "策略执行超时";
    /// The policy trapped (or ran out of its memory).
    PolicyTrap = "policy_trap", INTERNAL_SERVER_ERROR, "策略执行失败";
    /// The policy answered something the host does not accept.
    PolicyInvalid = "policy_invalid", INTERNAL_SERVER_ERROR, "策略执行失败";
    PolicyRefused = "policy_refused", UNPROCESSABLE_ENTITY, "策略被拒绝, 当前策略保持不变";
    /// `policy.trusted_keys` is set and the candidate came without a signature.
    PolicyUnsigned = "policy_unsigned", FORBIDDEN, "策略未签名, 当前策略保持不变";
    /// The candidate's signature is malformed or made by no trusted key.
    PolicyBadSignature = "policy_bad_signature", FORBIDDEN, "策略签名无效, 当前策略保持不变";
    NoPreviousPolicy = "no_previous_policy", CONFLICT, "没有可回滚的策略";
    /// Promoting or dropping the shadow policy when none is loaded.
    NoShadowPolicy = "no_shadow_policy", CONFLICT, "没有影子策略";
    // Storage
    StoreUnavailable = "store_unavailable", SERVICE_UNAVAILABLE, "数据库暂时不可用";
    StorageUnavailable = "storage_unavailable", SERVICE_UNAVAILABLE, "存储暂时不可用";
    StorageFull = "storage_full", INSUFFICIENT_STORAGE, "存储空间不足";
    Internal = "internal", INTERNAL_SERVER_ERROR, "服务器内部错误";
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn codes_are_snake_case_and_statuses_are_errors() {
        for code in Code::ALL {
            let s = code.as_str();
            assert!(!s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code:?}: {s}");
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{code:?}");
            assert!(!code.message().is_empty(), "{code:?}");
        }
    }

    #[test]
    fn one_code_string_means_one_status() {
        for a in Code::ALL {
            for b in Code::ALL {
                if a.as_str() == b.as_str() {
                    assert_eq!(a.status(), b.status(), "{a:?} and {b:?} share a code with different statuses");
                }
            }
        }
    }
}
