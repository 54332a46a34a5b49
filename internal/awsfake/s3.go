package awsfake

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// S3 serves objects path style (GET /bucket/key), enough for the Lambda
// mode's kubeconfig download.
type S3 struct {
	mu      sync.Mutex
	objects map[string][]byte // "bucket/key"
}

func newS3() *S3 { return &S3{objects: map[string][]byte{}} }

// Put stores an object.
func (s *S3) Put(bucket, key string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[bucket+"/"+key] = append([]byte(nil), data...)
}

// ServeHTTP answers GetObject and HeadObject.
func (s *S3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	data, ok := s.objects[path]
	s.mu.Unlock()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "awsfake S3 answers GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	if !ok {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		_ = xml.NewEncoder(w).Encode(struct {
			XMLName   xml.Name `xml:"Error"`
			Code      string   `xml:"Code"`
			Message   string   `xml:"Message"`
			Key       string   `xml:"Key"`
			RequestID string   `xml:"RequestId"`
		}{Code: "NoSuchKey", Message: "The specified key does not exist.", Key: path, RequestID: randomID()})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}
