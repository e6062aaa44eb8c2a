//! The value of every key when the file does not set it (and what a first start
//! writes out).

use std::collections::BTreeMap;

use super::schema::*;
use super::ConnectionsConfig;

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig { origins: vec!["*".into()] }
    }
}

impl Default for IpFilterConfig {
    fn default() -> Self {
        IpFilterConfig {
            enabled: true,
            rule: "120/60".into(),
            ban_s: 300,
            routes: BTreeMap::from([
                ("/api/get_token".to_string(), "10/60".to_string()),
                ("/api/mail_for_reset".to_string(), "5/300".to_string()),
            ]),
            allow: Vec::new(),
            deny: Vec::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".into(),
            exempt_images: true,
            max_tracked: 100_000,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, token: String::new() }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { jwt: true, secret: String::new(), admin_token: String::new(), check_ttl_s: 1800 }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            host: String::new(),
            port: 465,
            user: String::new(),
            password: String::new(),
            from: String::new(),
            tls: "implicit".into(),
            subject: "Mgek_ImgBed认证密钥找回服务".into(),
            template: "您好 {mail}:\n\n您的密钥(token)是:\n{token}\n\n如需删除账户及其全部图片, 请在 {minutes} 分钟内打开:\n{link}\n\n如果不是您本人操作, 请忽略此邮件。\n".into(),
            template_file: String::new(),
            timeout_s: 15,
        }
    }
}

impl Default for VariantsConfig {
    fn default() -> Self {
        VariantsConfig {
            enabled: true,
            widths: vec![160, 320, 640, 1280, 1920],
            formats: vec!["jpeg".into(), "png".into(), "webp".into()],
            quality: 82,
            cache_mb: 1024,
            path: String::new(),
            eager: Vec::new(),
            miss_rate: "60/60".into(),
            max_cost: 40_000_000,
        }
    }
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            enabled: false,
            size: 100 * 1024 * 1024,
            formats: vec!["mp4".into(), "mov".into(), "webm".into()],
            max_duration_s: 3600,
            max_width: 7680,
            max_height: 4320,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 5000,
            bind: "127.0.0.1".into(),
            debug: false,
            server_name: None,
            public_url: String::new(),
            multiroutine: false,
            server: ServerConfig::default(),
            video: VideoConfig::default(),
            variants: VariantsConfig::default(),
            database: DatabaseConfig::default(),
            policy: PolicyConfig::default(),
            auth: AuthConfig::default(),
            mail: MailConfig::default(),
            metrics: MetricsConfig::default(),
            ip_filter: IpFilterConfig::default(),
            cors: CorsConfig::default(),
            log: LogConfig::default(),
            connections: ConnectionsConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            image_path: String::new(),
            image_size: 10 * 1024 * 1024,
            image_url: String::new(),
            image_rule: "base64".into(),
            image_zip: false,
            image_zip_path: String::new(),
            thumb_width: 300,
            max_width: 10_000,
            max_height: 10_000,
            max_pixels: 40_000_000,
            max_frames: 900,
            max_files_per_request: 20,
            max_per_page: 100,
            strip_metadata: true,
            file_cache_mb: 32,
            file_cache_max_kb: 1024,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            engine: "sqlite".into(),
            sqlite: "imgbed.db".into(),
            mongo: String::new(),
            timeout_ms: 3000,
            blob: "local".into(),
            single_host: false,
            s3: super::S3Config::default(),
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            path: String::new(),
            watch: false,
            cache_dir: String::new(),
            memory_mb: 256,
            deadline_ms: 2000,
            workers: 0,
            heavy_workers: 0,
            settings: BTreeMap::new(),
            trusted_keys: Vec::new(),
            shadow_sample: 0.1,
            shadow_share: 0.25,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), dir: String::new(), keep_days: 14, files: true }
    }
}
