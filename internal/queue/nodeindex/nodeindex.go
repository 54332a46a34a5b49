// Package nodeindex keeps an informer-backed index of the cluster's Nodes by
// EC2 instance id (from spec.providerID, aws:///<zone>/<instance-id>) and by
// DNS name (the Node name and its InternalDNS/Hostname addresses), so queue
// mode maps an instance to its Node without listing Nodes per message.
package nodeindex

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
)

const (
	byInstance = "instance-id"
	byDNS      = "dns-name"
)

// Index looks Nodes up from an informer cache. Objects it returns are shared
// with the cache and must not be modified.
type Index struct {
	factory  informers.SharedInformerFactory
	informer cache.SharedIndexInformer

	mu      sync.Mutex
	changed chan struct{}
}

// New builds an index over client's Nodes; call Start before using it.
// resync is the informer's resync period (0 for none).
func New(client kubernetes.Interface, resync time.Duration) (*Index, error) {
	f := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTransform(stripManagedFields))
	inf := f.Core().V1().Nodes().Informer()
	if err := inf.AddIndexers(cache.Indexers{byInstance: instanceIndex, byDNS: dnsIndex}); err != nil {
		return nil, err
	}
	ix := &Index{factory: f, informer: inf, changed: make(chan struct{})}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { ix.notify() },
		UpdateFunc: func(any, any) { ix.notify() },
		DeleteFunc: func(any) { ix.notify() },
	}); err != nil {
		return nil, err
	}
	return ix, nil
}

// SyncError reports that the Node cache did not fill.
type SyncError struct{ Err error }

func (e *SyncError) Error() string { return fmt.Sprintf("node informer did not sync: %v", e.Err) }
func (e *SyncError) Unwrap() error { return e.Err }

// Start runs the informer until ctx ends and waits for its first sync.
func (ix *Index) Start(ctx context.Context) error {
	ix.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), ix.informer.HasSynced) {
		return &SyncError{Err: ctx.Err()}
	}
	return nil
}

// Shutdown waits for the informer's goroutines after ctx passed to Start ended.
func (ix *Index) Shutdown() { ix.factory.Shutdown() }

func (ix *Index) notify() {
	ix.mu.Lock()
	close(ix.changed)
	ix.changed = make(chan struct{})
	ix.mu.Unlock()
}

// Changed returns a channel closed at the next change of any Node.
func (ix *Index) Changed() <-chan struct{} {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.changed
}

// Marked returns the Nodes that carry lifeboat's mark (shared with the
// cache: do not modify them).
func (ix *Index) Marked() []*corev1.Node {
	var out []*corev1.Node
	for _, obj := range ix.informer.GetStore().List() {
		if n, ok := obj.(*corev1.Node); ok && n.Annotations[drain.AnnotationCordon] != "" {
			out = append(out, n)
		}
	}
	return out
}

// ByInstanceID returns the Node whose providerID names the instance.
func (ix *Index) ByInstanceID(id string) (*corev1.Node, bool) { return ix.first(byInstance, id) }

// ByDNSName returns the Node named name or having it as an InternalDNS or
// Hostname address.
func (ix *Index) ByDNSName(name string) (*corev1.Node, bool) {
	return ix.first(byDNS, strings.ToLower(name))
}

func (ix *Index) first(index, key string) (*corev1.Node, bool) {
	objs, err := ix.informer.GetIndexer().ByIndex(index, key)
	if err != nil || len(objs) == 0 {
		return nil, false
	}
	n, ok := objs[0].(*corev1.Node)
	return n, ok
}

// InstanceID extracts the EC2 instance id from an AWS providerID
// ("aws:///us-east-1a/i-0123456789abcdef0"; also "aws://us-east-1a/i-...").
func InstanceID(providerID string) (string, bool) {
	if !strings.HasPrefix(providerID, "aws://") {
		return "", false
	}
	id := providerID[strings.LastIndex(providerID, "/")+1:]
	return id, strings.HasPrefix(id, "i-")
}

// ProviderID returns the providerID of an instance in a zone.
func ProviderID(zone, instanceID string) string { return "aws:///" + zone + "/" + instanceID }

// Ready reports whether the Node's Ready condition is True.
func Ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func instanceIndex(obj any) ([]string, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil, nil
	}
	if id, ok := InstanceID(n.Spec.ProviderID); ok {
		return []string{id}, nil
	}
	return nil, nil
}

func dnsIndex(obj any) ([]string, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil, nil
	}
	keys := []string{strings.ToLower(n.Name)}
	for _, a := range n.Status.Addresses {
		if (a.Type == corev1.NodeInternalDNS || a.Type == corev1.NodeHostName) && !strings.EqualFold(a.Address, n.Name) {
			keys = append(keys, strings.ToLower(a.Address))
		}
	}
	return keys, nil
}

func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
