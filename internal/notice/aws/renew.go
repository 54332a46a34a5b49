package aws

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// tokenTTLHeader carries an IMDSv2 session token's lifetime in seconds.
const tokenTTLHeader = "X-aws-ec2-metadata-token-ttl-seconds" //nolint:gosec // G101: a header name, not a credential

// earlyRenewal makes the SDK renew session tokens before IMDS expires them:
// the SDK keeps a token for exactly the lifetime IMDS grants, so a poll just
// at the end would meet a 401 and cost a retry. It shortens the granted
// lifetime the SDK sees by a tenth (at least 1 s, at most 60 s).
type earlyRenewal struct{ next imds.HTTPClient }

// Do sends the request and adjusts token responses.
func (e earlyRenewal) Do(r *http.Request) (*http.Response, error) {
	resp, err := e.next.Do(r)
	if err != nil || r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/api/token") {
		return resp, err
	}
	if ttl, perr := strconv.Atoi(resp.Header.Get(tokenTTLHeader)); perr == nil && ttl > 1 {
		resp.Header.Set(tokenTTLHeader, strconv.Itoa(renewAfter(ttl)))
	}
	return resp, nil
}

// renewAfter is how long the SDK may use a token granted for ttl seconds.
func renewAfter(ttl int) int {
	return ttl - max(1, min(60, ttl/10))
}
