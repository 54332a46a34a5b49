package azure

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
	azurenotice "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
)

// Wire types of Scheduled Events, shared with the notice source that reads
// them.
type (
	// Document is the Scheduled Events document, as Azure serves it; its
	// Events are never null.
	Document = azurenotice.Document
	// Event is one scheduled event, as Azure serves it.
	Event = azurenotice.Event
	// StartRequests is the body of an acknowledgement POST.
	StartRequests = azurenotice.StartRequests
	// StartRequest asks the platform to start one event now.
	StartRequest = azurenotice.StartRequest
)

// Compute is the subset of /metadata/instance/compute the emulator serves.
type Compute struct {
	Name              string `json:"name"`
	Location          string `json:"location"`
	OSType            string `json:"osType"`
	ResourceGroupName string `json:"resourceGroupName"`
	SubscriptionID    string `json:"subscriptionId"`
	VMScaleSetName    string `json:"vmScaleSetName"`
	VMID              string `json:"vmId"`
}

// requireIMDS answers 400, as Azure IMDS does, when the Metadata: true
// header or the api-version parameter is missing, or when the request was
// relayed by a proxy (X-Forwarded-For).
func (s *Server) requireIMDS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !strings.EqualFold(r.Header.Get(MetadataHeader), "true"):
			writeError(w, "Bad request. Required metadata header not specified")
		case r.Header.Get("X-Forwarded-For") != "":
			writeError(w, "Bad request. Request is forwarded")
		case r.URL.Query().Get("api-version") == "":
			writeError(w, "Bad request. api-version was not specified in the request. "+
				"For more information refer to aka.ms/azureimds")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) handleDocument(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Document())
}

// handleStartRequests records the acknowledgement and starts every listed
// event that is still Scheduled. IDs it does not know are ignored.
func (s *Server) handleStartRequests(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, "Bad request. Unreadable body")
		return
	}
	var req StartRequests
	if err := json.Unmarshal(body, &req); err != nil || len(req.StartRequests) == 0 {
		writeError(w, "Bad request. Invalid StartRequests body")
		return
	}
	ids := make([]string, 0, len(req.StartRequests))
	for _, sr := range req.StartRequests {
		ids = append(ids, sr.EventID)
	}
	started := s.acknowledge(ids, string(body))
	s.opts.Log.Info("scheduled events acknowledged", logging.KeySource, "azure-emulator",
		logging.KeyNotice, strings.Join(ids, ","), "started", len(started))
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleCompute(w http.ResponseWriter, _ *http.Request) {
	name := s.opts.VMName
	vmss := ""
	if i := strings.LastIndexByte(name, '_'); i > 0 {
		vmss = name[:i]
	}
	writeJSON(w, http.StatusOK, Compute{
		Name:              name,
		Location:          s.opts.Location,
		OSType:            "Linux",
		ResourceGroupName: "lifeboat-emulated",
		SubscriptionID:    "00000000-0000-0000-0000-000000000000",
		VMScaleSetName:    vmss,
		VMID:              "11111111-2222-3333-4444-555555555555",
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
}
