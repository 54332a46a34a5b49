// Package notify tells people what lifeboat does to a node: it turns drain
// events and notices into one message per meaningful lifecycle step
// (Observer), and delivers them asynchronously through a bounded queue per
// notifier with retries bounded by the drain's deadline (Dispatcher), to
// Slack (bot threads or incoming webhook), Telegram and a generic templated
// webhook. A failing or hanging endpoint never delays or fails a drain.
//
// Commands use Options (AddFlags, Validate) and New; see
// docs/NOTIFICATIONS.md.
package notify
