// Package telegram sends lifeboat's notifications through the Telegram Bot
// API: one sendMessage per lifecycle step.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/notify/notifier"
)

// DefaultAPIURL is the Telegram Bot API base URL.
const DefaultAPIURL = "https://api.telegram.org"

// Config configures a Notifier.
type Config struct {
	// Token is the bot token ("123456:ABC-DEF..."), a secret: it is part of
	// every request path.
	Token string
	// ChatID is a numeric chat ID or "@channelusername".
	ChatID string
	// APIURL is the Bot API base URL; empty means DefaultAPIURL.
	APIURL string
	// HTTP is the client; nil means a default notifier client.
	HTTP *http.Client
}

// Notifier calls sendMessage for every step.
type Notifier struct {
	endpoint string
	chatID   any
	http     *http.Client
	redact   *notifier.Redactor
}

var _ notifier.Notifier = (*Notifier)(nil)

// New returns a Telegram notifier.
func New(c Config) *Notifier {
	if c.HTTP == nil {
		c.HTTP = notifier.NewHTTPClient(notifier.HTTPConfig{Timeout: 10 * time.Second})
	}
	api := strings.TrimSuffix(c.APIURL, "/")
	if api == "" {
		api = DefaultAPIURL
	}
	n := &Notifier{
		endpoint: api + "/bot" + c.Token + "/sendMessage",
		chatID:   chatID(c.ChatID),
		http:     c.HTTP,
		redact:   notifier.NewRedactor(c.Token),
	}
	n.redact.AddURL(n.endpoint)
	return n
}

// chatID sends numeric IDs as JSON numbers and usernames as strings.
func chatID(s string) any {
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		return id
	}
	return s
}

// Name is "telegram".
func (n *Notifier) Name() string { return "telegram" }

// sendMessage is the request body of the Bot API method.
type sendMessage struct {
	ChatID                any    `json:"chat_id"`
	Text                  string `json:"text"`
	DisableWebPagePreview bool   `json:"disable_web_page_preview,omitempty"`
}

// apiResponse is the Bot API's answer envelope.
type apiResponse struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// Notify sends m as a plain-text message.
func (n *Notifier) Notify(ctx context.Context, m notifier.Message) error {
	body, err := json.Marshal(sendMessage{ChatID: n.chatID, Text: m.Summary(), DisableWebPagePreview: true})
	if err != nil {
		return n.redact.Err(n.Name(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.endpoint, bytes.NewReader(body))
	if err != nil {
		return n.redact.Err(n.Name(), err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		return n.redact.Err(n.Name(), err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
	}()
	return n.redact.Err(n.Name(), check(resp))
}

// check reads the Bot API answer: ok:true is success; otherwise the
// error_code decides whether a retry can help.
func check(resp *http.Response) error {
	var r apiResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&r); err != nil {
		if resp.StatusCode/100 != 2 {
			return notifier.StatusError(resp)
		}
		return fmt.Errorf("decoding Bot API response (HTTP %s): %w", resp.Status, err)
	}
	if r.OK && resp.StatusCode/100 == 2 {
		return nil
	}
	code := r.ErrorCode
	if code == 0 {
		code = resp.StatusCode
	}
	return &notifier.DeliveryError{
		StatusCode: code,
		Permanent:  !notifier.RetryableStatus(code),
		RetryAfter: time.Duration(r.Parameters.RetryAfter) * time.Second,
		Detail:     fmt.Sprintf("Bot API error %d: %s", code, r.Description),
	}
}
