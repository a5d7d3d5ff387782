//! The API's contract: an OpenAPI 3.1 document generated from the handlers (`#[utoipa::path]`)
//! and the types they answer with, served at `GET /api/v1/openapi.json`.
//!
//! Request bodies are read field by field (`JsonObject`, so that a price never goes through a
//! float and every field's error names the field); the types below only *describe* those
//! bodies. They are never built, which is why they carry `dead_code` allowances.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's fixed parts; the paths and schemas come from the routes registered with
/// `utoipa_axum` in [`crate::router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "pricetrack API",
        description = "Track a product page's price and be told when it reaches your target.\n\n\
            Sign in with `POST /api/v1/signin`: the answer sets the session cookie (`Authorization`, or \
            `__Host-Authorization` on an HTTPS deployment) that every other route needs. Every error has \
            one shape, `{\"error\":{\"code\",\"message\",\"field\"?}}`; 503 answers carry `Retry-After`. \
            Money is always a decimal string beside its ISO 4217 currency; times are RFC 3339 UTC.",
        license(name = "MIT OR Apache-2.0"),
    ),
    modifiers(&SessionCookie),
    // Schemas only query parameters name: registered so their references resolve.
    components(schemas(OrderDoc, ResolutionDoc, JobStatusDoc)),
    tags(
        (name = "accounts", description = "Sign-up, sign-in, sessions and the signed-in user's account."),
        (name = "jobs", description = "Tracked products: create, list, edit, pause, price history, delete."),
        (name = "channels", description = "Where a user's alerts are delivered."),
        (name = "alerts", description = "The delivery log of a user's alerts."),
        (name = "probes", description = "Liveness and readiness for the orchestrator."),
    )
)]
pub(crate) struct ApiDoc;

/// The name of the session security scheme in the document.
pub(crate) const SESSION: &str = "session";

/// Adds the session cookie as the document's security scheme.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session::COOKIE_NAME,
                "The session token set by sign-in (HttpOnly; named `__Host-Authorization` when the \
                 deployment serves HTTPS).",
            ))),
        );
    }
}

/// The one error shape of every non-2xx answer.
#[derive(ToSchema)]
#[schema(as = Error, example = json!({"error": {"code": "invalid_field", "message": "target_price must be greater than zero", "field": "target_price"}}))]
#[allow(dead_code, reason = "describes the body `error::ErrorBody` writes")]
pub(crate) struct ErrorDoc {
    error: ErrorDetailDoc,
}

/// What went wrong.
#[derive(ToSchema)]
#[schema(as = ErrorDetail)]
#[allow(dead_code, reason = "describes the body `error::ErrorBody` writes")]
pub(crate) struct ErrorDetailDoc {
    /// Machine-readable: `invalid_field`, `unknown_field`, `malformed_json`, `unauthenticated`,
    /// `invalid_credentials`, `wrong_password`, `idempotency_key_reused`, `too_many_attempts`, `job_limit_reached`,
    /// `foreign_origin`, `not_found`, `email_taken`, `payload_too_large`,
    /// `unsupported_media_type`, `precondition_failed`, `unavailable`, `internal`…
    code: String,
    /// In words a person can act on.
    message: String,
    /// The request field at fault, for `invalid_field` and `unknown_field`.
    field: Option<String>,
}

/// An email and a password (sign-up and sign-in).
#[derive(ToSchema)]
#[schema(as = Credentials, example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
#[allow(dead_code, reason = "describes a body read by `body::JsonObject`")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialsDoc {
    /// The account's email address.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// At least 8 characters at sign-up.
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
}

/// A password change.
#[derive(ToSchema)]
#[schema(as = PasswordChange)]
#[allow(dead_code, reason = "describes a body read by `body::JsonObject`")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChangeDoc {
    /// The account's password now.
    #[schema(max_length = 1024)]
    current_password: String,
    /// The new password (at least 8 characters).
    #[schema(min_length = 8, max_length = 1024)]
    new_password: String,
}

/// The password that confirms deleting the account.
#[derive(ToSchema)]
#[schema(as = AccountDeletion)]
#[allow(dead_code, reason = "describes a body read by `body::JsonObject`")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountDeletionDoc {
    /// The account's password.
    #[schema(max_length = 1024)]
    password: String,
}

/// A price as the client may send it: a decimal string (`"79.99"`, preferred) or a JSON number
/// (read from its text, never through a float). Greater than zero.
#[derive(serde::Deserialize)]
pub(crate) struct DecimalInputDoc;

impl utoipa::PartialSchema for DecimalInputDoc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Number]))
            .description(Some(
                "A price greater than zero: a decimal string such as \"79.99\" (preferred) or a JSON number \
                 without an exponent, read from its text, never through a float.",
            ))
            .examples(["79.99"])
            .into()
    }
}

impl ToSchema for DecimalInputDoc {
    fn name() -> std::borrow::Cow<'static, str> {
        "DecimalInput".into()
    }
}

/// One alert rule.
#[derive(ToSchema, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = AlertRule, example = json!({"kind": "drop_percent", "percent": "10", "baseline": "first_seen"}))]
#[allow(dead_code, reason = "describes `pricetrack_domain::AlertRule`'s JSON")]
pub(crate) enum AlertRuleDoc {
    /// At or below the job's target.
    BelowTarget,
    /// At least `percent` % below `baseline`.
    DropPercent {
        /// Between 0 and 100, exclusive.
        percent: DecimalInputDoc,
        /// What the drop is measured from.
        baseline: BaselineDoc,
    },
    /// Back in stock with a price after being out of stock.
    BackInStock,
    /// Below the lowest price seen before.
    NewLow,
}

/// The kinds of alert rule.
#[derive(ToSchema)]
#[schema(as = AlertRuleKind)]
#[allow(dead_code, reason = "describes `pricetrack_domain::AlertRuleKind`'s JSON")]
#[schema(rename_all = "snake_case")]
pub(crate) enum AlertRuleKindDoc {
    /// At or below the target.
    BelowTarget,
    /// A percentage drop.
    DropPercent,
    /// Back in stock.
    BackInStock,
    /// A new lowest price.
    NewLow,
}

/// What a percentage drop is measured from.
#[derive(ToSchema, serde::Deserialize)]
#[schema(as = Baseline)]
#[allow(dead_code, reason = "describes `pricetrack_domain::rules::Baseline`'s JSON")]
#[serde(rename_all = "snake_case")]
pub(crate) enum BaselineDoc {
    /// The first price seen.
    FirstSeen,
    /// The previous check's price.
    Previous,
}

/// A new tracking job.
#[derive(ToSchema)]
#[schema(as = NewJob, example = json!({"url": "https://shop.example/p/kettle", "target_price": "79.99", "currency": "EUR"}))]
#[allow(dead_code, reason = "describes a body read by `body::JsonObject`")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewJobDoc {
    /// The product page: an absolute http(s) URL of a public host.
    #[schema(min_length = 1, max_length = 2048, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://")]
    url: String,
    /// Alert when the price is at or below this.
    target_price: DecimalInputDoc,
    /// The ISO 4217 code the target is in; when absent, the page's own currency.
    #[schema(pattern = "^[A-Za-z]{3}$")]
    currency: Option<String>,
    /// Seconds between checks; the server's default when absent. At least the operator's floor
    /// (60 s unless the operator chose otherwise), at most 30 days.
    #[schema(minimum = 60, maximum = 2592000)]
    check_interval_secs: Option<u64>,
    /// A CSS selector for the price element, when automatic reading picks the wrong price.
    #[schema(min_length = 1, max_length = 512)]
    price_selector: Option<String>,
    /// Alert rules; `[{"kind":"below_target"}]` when absent. Each kind at most once.
    #[schema(min_items = 1, max_items = 4)]
    rules: Option<Vec<AlertRuleDoc>>,
    /// Hours to wait after an alert before another (0 to 720).
    #[schema(maximum = 720)]
    cooldown_hours: Option<u32>,
    /// No alert before this time (RFC 3339).
    #[schema(format = DateTime)]
    snooze_until: Option<String>,
    /// The ids of the channels to alert (the user's own); every channel when absent.
    channels: Option<Vec<String>>,
}

/// A JSON merge patch of a job (RFC 7396): absent fields stay as they are; `null` clears
/// `currency` and `price_selector`.
#[derive(ToSchema)]
#[schema(as = JobPatch, example = json!({"target_price": "69.99", "paused": true}))]
#[allow(dead_code, reason = "describes a body read by `body::JsonObject`")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobPatchDoc {
    /// The new target.
    #[schema(nullable = false)]
    target_price: Option<DecimalInputDoc>,
    /// The target's currency; `null` to use the page's.
    #[schema(pattern = "^[A-Za-z]{3}$")]
    currency: Option<String>,
    /// Seconds between checks (the operator's floor to 30 days).
    #[schema(nullable = false, minimum = 60, maximum = 2592000)]
    check_interval_secs: Option<u64>,
    /// The price element's selector; `null` to read the price automatically again.
    #[schema(min_length = 1, max_length = 512)]
    price_selector: Option<String>,
    /// `true` pauses the job (never checked); `false` resumes it (checked soon).
    #[schema(nullable = false)]
    paused: Option<bool>,
    /// The alert rules (each kind at most once); cannot be cleared.
    #[schema(nullable = false, min_items = 1, max_items = 4)]
    rules: Option<Vec<AlertRuleDoc>>,
    /// Hours to wait after an alert before another (0 to 720); `null` clears it.
    #[schema(maximum = 720)]
    cooldown_hours: Option<u32>,
    /// No alert before this time (RFC 3339); `null` clears it.
    #[schema(format = DateTime)]
    snooze_until: Option<String>,
    /// The ids of the channels to alert (the user's own); `null`: every channel.
    channels: Option<Vec<String>>,
}

/// A new channel: `kind` and the kind's fields, all strings. A webhook's answer carries its
/// signing `secret`, shown this once.
#[derive(ToSchema, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = NewChannel, example = json!({"kind": "ntfy", "name": "phone", "topic": "my-prices-4f7a"}))]
#[allow(dead_code, reason = "describes a body read by `body::JsonObject`")]
pub(crate) enum NewChannelDoc {
    /// A JSON POST signed as Standard Webhooks says.
    Webhook {
        /// A name for the user (1 to 100 characters; the kind when absent).
        #[schema(min_length = 1, max_length = 100)]
        name: Option<String>,
        /// Where to POST (an absolute http(s) URL of a public host).
        url: String,
    },
    /// ntfy.
    Ntfy {
        /// A name for the user.
        #[schema(min_length = 1, max_length = 100)]
        name: Option<String>,
        /// The server (default `https://ntfy.sh`).
        server: Option<String>,
        /// The topic.
        topic: String,
        /// An access token.
        token: Option<String>,
    },
    /// Gotify.
    Gotify {
        /// A name for the user.
        #[schema(min_length = 1, max_length = 100)]
        name: Option<String>,
        /// The server.
        server: String,
        /// The application token.
        token: String,
    },
    /// A Discord incoming webhook.
    Discord {
        /// A name for the user.
        #[schema(min_length = 1, max_length = 100)]
        name: Option<String>,
        /// The webhook URL.
        webhook_url: String,
    },
    /// A Slack incoming webhook.
    Slack {
        /// A name for the user.
        #[schema(min_length = 1, max_length = 100)]
        name: Option<String>,
        /// The webhook URL.
        webhook_url: String,
    },
    /// A Telegram bot.
    Telegram {
        /// A name for the user.
        #[schema(min_length = 1, max_length = 100)]
        name: Option<String>,
        /// The bot's token.
        bot_token: String,
        /// The chat to write to.
        chat_id: String,
        /// The Bot API's base URL.
        api_url: Option<String>,
    },
    /// An Apprise API server.
    Apprise {
        /// A name for the user.
        #[schema(min_length = 1, max_length = 100)]
        name: Option<String>,
        /// The server.
        server: String,
        /// The Apprise URLs to notify.
        urls: String,
    },
    /// Email.
    Email {
        /// A name for the user.
        #[schema(min_length = 1, max_length = 100)]
        name: Option<String>,
        /// The address.
        address: String,
    },
}

/// A change to a channel: `name` and any of its kind's fields (see `NewChannel`); the kind
/// itself cannot change.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(as = ChannelPatch, example = json!({"name": "my phone"}))]
#[allow(dead_code, reason = "describes a body read by `body::JsonObject`")]
pub(crate) struct ChannelPatchDoc {
    /// A name for the user (1 to 100 characters).
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    /// `webhook`: where to POST.
    url: Option<String>,
    /// `ntfy`, `gotify`, `apprise`: the server's base URL.
    server: Option<String>,
    /// `ntfy`: the topic.
    topic: Option<String>,
    /// `ntfy`, `gotify`: the access token.
    token: Option<String>,
    /// `discord`, `slack`: the incoming-webhook URL.
    webhook_url: Option<String>,
    /// `telegram`: the bot's token.
    bot_token: Option<String>,
    /// `telegram`: the chat to write to.
    chat_id: Option<String>,
    /// `telegram`: the Bot API's base URL.
    api_url: Option<String>,
    /// `apprise`: the Apprise URLs to notify.
    urls: Option<String>,
    /// `email`: the address.
    address: Option<String>,
}

/// The kinds of channel.
#[derive(ToSchema)]
#[schema(as = ChannelKind)]
#[allow(dead_code, reason = "describes `pricetrack_domain::ChannelKind`'s JSON")]
#[schema(rename_all = "snake_case")]
pub(crate) enum ChannelKindDoc {
    /// A signed JSON POST (Standard Webhooks).
    Webhook,
    /// ntfy.
    Ntfy,
    /// Gotify.
    Gotify,
    /// Discord.
    Discord,
    /// Slack.
    Slack,
    /// Telegram.
    Telegram,
    /// An Apprise API server.
    Apprise,
    /// Email.
    Email,
}

/// A page to preview.
#[derive(ToSchema)]
#[schema(as = PreviewRequest, example = json!({"url": "https://shop.example/p/kettle"}))]
#[allow(dead_code, reason = "describes a body read by `body::JsonObject`")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewRequestDoc {
    /// The product page.
    #[schema(min_length = 1, max_length = 2048, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://")]
    url: String,
}

/// A job's status.
#[derive(ToSchema)]
#[schema(as = JobStatus)]
#[allow(dead_code, reason = "describes the `status` strings of a job")]
#[schema(rename_all = "snake_case")]
pub(crate) enum JobStatusDoc {
    /// Not checked yet.
    Pending,
    /// Checked, above the target.
    Active,
    /// The alert condition was met and the user told.
    Alerted,
    /// The last checks failed; `last_error` says why.
    Failing,
    /// Paused by the user: never checked.
    Paused,
}

/// Whether the product can be bought.
#[derive(ToSchema)]
#[schema(as = Availability)]
#[allow(dead_code, reason = "describes `pricetrack_domain::Availability`'s JSON")]
#[schema(rename_all = "snake_case")]
pub(crate) enum AvailabilityDoc {
    /// In stock.
    InStock,
    /// Out of stock.
    OutOfStock,
    /// Can be ordered, ships later.
    PreOrder,
}

/// The answer of a probe.
#[derive(ToSchema)]
#[schema(as = Probe, example = json!({"status": "ok"}))]
#[allow(dead_code, reason = "describes the probes' bodies")]
pub(crate) struct ProbeDoc {
    /// `ok`, or `unavailable` (readiness only).
    status: String,
    /// Readiness only: each dependency's state.
    #[schema(value_type = Option<Object>)]
    dependencies: Option<serde_json::Value>,
}

/// How `GET /api/v1/jobs` orders jobs.
#[derive(ToSchema)]
#[schema(as = JobOrder)]
#[allow(dead_code, reason = "describes a query parameter")]
#[schema(rename_all = "snake_case")]
pub(crate) enum OrderDoc {
    /// Oldest first (the default).
    Oldest,
    /// Newest first.
    Newest,
}

/// The resolution of a price history.
#[derive(ToSchema)]
#[schema(as = Resolution)]
#[allow(dead_code, reason = "describes a query parameter")]
#[schema(rename_all = "snake_case")]
pub(crate) enum ResolutionDoc {
    /// The stored points, paged, newest first.
    Raw,
    /// One bucket per hour, oldest first.
    Hour,
    /// One bucket per day, oldest first.
    Day,
}

/// A delivery's state.
#[derive(ToSchema)]
#[schema(as = DeliveryStatus)]
#[allow(dead_code, reason = "describes `pricetrack_domain::DeliveryStatus`'s JSON")]
#[schema(rename_all = "snake_case")]
pub(crate) enum DeliveryStatusDoc {
    /// Not delivered yet; will be tried again.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up: `last_error` says why.
    Failed,
}

/// A channel's state.
#[derive(ToSchema)]
#[schema(as = ChannelStatus)]
#[allow(dead_code, reason = "describes `pricetrack_domain::ChannelStatus`'s JSON")]
#[schema(rename_all = "snake_case")]
pub(crate) enum ChannelStatusDoc {
    /// Delivering.
    Active,
    /// Failed permanently or many times in a row; `last_error` says why. Any change or a
    /// delivered test makes it active again.
    Failing,
}

/// The caller's channels.
#[derive(ToSchema)]
#[schema(as = ChannelList)]
#[allow(dead_code, reason = "describes the body `channels::list` writes")]
pub(crate) struct ChannelListDoc {
    /// Oldest first.
    channels: Vec<crate::channels::ChannelView>,
}

/// The outcome of a test message.
#[derive(ToSchema)]
#[schema(as = ChannelTestOutcome, example = json!({"delivered": false, "error": "the server answered 404", "retryable": false}))]
#[allow(dead_code, reason = "describes the body `channels::test` writes")]
pub(crate) struct ChannelTestOutcomeDoc {
    /// Whether the channel took the message.
    delivered: bool,
    /// Why not, in words.
    error: Option<String>,
    /// Whether trying again later may work.
    retryable: Option<bool>,
}

/// One page of the delivery log.
#[derive(ToSchema)]
#[schema(as = AlertPage)]
#[allow(dead_code, reason = "describes the body `alerts::list` writes")]
pub(crate) struct AlertPageDoc {
    /// Newest first.
    alerts: Vec<crate::alerts::AlertView>,
    /// The cursor of the next page, `null` on the last.
    next_cursor: Option<String>,
}

/// The generated document as JSON text, the same bytes `GET /api/v1/openapi.json` serves.
pub(crate) fn to_json(doc: &utoipa::openapi::OpenApi) -> String {
    doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
}
