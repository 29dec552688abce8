//! The notifier: emails the user who started a job how it ended.
//!
//! What is here so far: its mail settings and the [`Mailer`] that sends one email
//! over SMTP. The durable JetStream consumer that turns terminal job events into
//! emails, and the record that makes each outcome one email, come next.

pub mod mailer;
pub mod settings;

pub use mailer::{Email, Mailer, SendError};
pub use settings::Mail;
