//! The catalogue of refusals the default policy gives: one place for status, code and message.

/// A refusal before it is turned into the WIT `rejection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal { status, code, message: message.into() }
    }

    /// The upload holds no bytes.
    pub fn empty() -> Self {
        Self::new(400, "empty_upload", "空的上传文件")
    }

    /// The bytes are not a format this policy accepts (whatever the name or Content-Type says).
    pub fn unsupported() -> Self {
        Self::new(415, "unsupported_type", "不支持的文件类型: 仅支持 jpg, png, webp, gif, mp4, mov, webm")
    }

    /// A video upload while video uploads are off (`video.enabled`).
    pub fn video_disabled() -> Self {
        Self::new(415, "unsupported_type", "不支持的文件类型: 视频上传未开启 (video.enabled)")
    }

    /// A video container this policy (or its settings) does not take: no video track,
    /// a disabled container, an unknown brand or document type.
    pub fn unsupported_video(what: impl std::fmt::Display) -> Self {
        Self::new(415, "unsupported_video", format!("不支持的视频: {what}"))
    }

    /// The bytes start like a video container but its structure is broken or cut short.
    pub fn corrupt_video(format: &str, why: impl std::fmt::Display) -> Self {
        Self::new(422, "corrupt_video", format!("视频已损坏: {format} 结构错误 ({why})"))
    }

    /// Dimensions or duration over the configured video limits.
    pub fn video_too_large(what: impl std::fmt::Display) -> Self {
        Self::new(422, "video_too_large", format!("视频超出限制: {what}"))
    }

    /// The bytes start like an accepted format but do not decode.
    pub fn corrupt(format: &str, why: impl std::fmt::Display) -> Self {
        Self::new(422, "corrupt_image", format!("文件已损坏: {format} 解码失败 ({why})"))
    }

    /// Width, height, pixel count or frame count over the configured limits.
    pub fn too_big(what: impl std::fmt::Display) -> Self {
        Self::new(422, "image_too_large", format!("图片尺寸超出限制: {what}"))
    }

    /// A naming rule this policy does not know.
    pub fn unknown_rule(rule: &str) -> Self {
        Self::new(500, "unknown_rule", format!("未知的命名规则: {rule}"))
    }

    /// No (valid) token.
    pub fn no_authority() -> Self {
        Self::new(401, "no_authority", "401 No Authority")
    }

    /// Authenticated, but this action is not allowed.
    pub fn forbidden() -> Self {
        Self::new(403, "forbidden", "无操作权限")
    }

    /// The target belongs to someone else: answer as if it did not exist.
    pub fn not_found() -> Self {
        Self::new(404, "not_found", "图片不存在")
    }

    /// Not a mail address this policy accepts.
    pub fn invalid_mail() -> Self {
        Self::new(400, "invalid_mail", "邮箱格式错误")
    }

    /// A mail domain this installation does not admit.
    pub fn mail_domain() -> Self {
        Self::new(403, "mail_domain", "不允许的邮箱域名")
    }

    /// Thumbnails are not made by this policy.
    pub fn unsupported_thumbnail() -> Self {
        Self::new(501, "unsupported", "此策略不生成缩略图")
    }

    /// A variant request the maker cannot take (the host checks its allow-list first).
    pub fn bad_variant(why: impl std::fmt::Display) -> Self {
        Self::new(400, "bad_variant", format!("无效的变体请求: {why}"))
    }

    /// A variant whose source costs more (pixels × frames decoded) than allowed.
    pub fn variant_too_costly(cost: u64, max: u64) -> Self {
        Self::new(422, "variant_too_costly", format!("生成变体的代价过高: {cost} 像素×帧 超过 {max}"))
    }

    /// The encoder failed on decoded pixels.
    pub fn variant_failed(format: &str, why: impl std::fmt::Display) -> Self {
        Self::new(422, "variant_failed", format!("无法生成 {format} 变体 ({why})"))
    }
}
