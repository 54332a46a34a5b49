package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
)

// PostJSON marshals body and POSTs it to url with client: a 2xx answer is
// success, any other status a StatusError. The error text is passed
// through redact, so the URL (a secret for webhooks) never shows.
func PostJSON(ctx context.Context, client *http.Client, url string, body any, name string, redact *Redactor) error {
	b, err := json.Marshal(body)
	if err != nil {
		return redact.Err(name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return redact.Err(name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return redact.Err(name, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode/100 != 2 {
		return redact.Err(name, StatusError(resp))
	}
	return nil
}

// Facts are the message's details as label/value pairs, in a fixed order,
// for notifiers that render them as a table (Teams, Google Chat, email).
func (m Message) Facts() [][2]string {
	var out [][2]string
	add := func(k, v string) {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	add("Cluster", m.Cluster)
	add("Node", m.Node)
	add("Step", string(m.Step))
	add("Trigger", m.Trigger)
	add("Kind", m.Kind)
	add("Reason", m.Reason)
	if !m.Deadline.IsZero() {
		add("Deadline", m.Deadline.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	add("Instance", m.InstanceID)
	add("Zone", m.Zone)
	add("Result", m.Result)
	add("Error", m.Error)
	return out
}
