package kube

import (
	"context"
	"fmt"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"
)

// Interface is the Kubernetes API as lifeboat's drain path uses it: the
// resources it reads and writes, with client-go's method signatures, so a
// call reads as it would on a clientset (client.CoreV1().Nodes().Get(...)).
//
// It exists for memory. client-go's clientset (kubernetes.Interface) links
// and registers the types of every API group, and what their init and a
// drain touch stays resident: on the node agent that was about 9 MiB of its
// resident set, more than its heap. NewForConfig builds this client from
// the five API groups lifeboat uses; the clientset package adapts a full
// clientset (or client-go's fake) where a mode already has one.
type Interface interface {
	CoreV1() CoreV1Interface
	AppsV1() AppsV1Interface
	PolicyV1() PolicyV1Interface
	CoordinationV1() CoordinationV1Interface
	StorageV1() StorageV1Interface
}

// CoreV1Interface is the part of the core API group lifeboat uses.
type CoreV1Interface interface {
	Nodes() NodeInterface
	Pods(namespace string) PodInterface
	Events(namespace string) EventInterface
	PersistentVolumeClaims(namespace string) PersistentVolumeClaimInterface
}

// AppsV1Interface is the part of apps/v1 lifeboat uses (a pod's
// DaemonSet, which a drain leaves alone).
type AppsV1Interface interface {
	DaemonSets(namespace string) DaemonSetInterface
}

// PolicyV1Interface is the part of policy/v1 lifeboat uses.
type PolicyV1Interface interface {
	PodDisruptionBudgets(namespace string) PodDisruptionBudgetInterface
	Evictions(namespace string) EvictionInterface
}

// CoordinationV1Interface is the part of coordination.k8s.io/v1 lifeboat uses.
type CoordinationV1Interface interface {
	Leases(namespace string) LeaseInterface
}

// StorageV1Interface is the part of storage.k8s.io/v1 lifeboat uses.
type StorageV1Interface interface {
	VolumeAttachments() VolumeAttachmentInterface
}

// ResourceInterface is what every resource client offers: client-go's
// typed verbs for objects T listed as L.
type ResourceInterface[T, L runtime.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// NodeInterface reads and writes Nodes, status included.
type NodeInterface interface {
	ResourceInterface[*corev1.Node, *corev1.NodeList]
	UpdateStatus(ctx context.Context, node *corev1.Node, opts metav1.UpdateOptions) (*corev1.Node, error)
	// PatchStatus applies a strategic merge patch to the Node's status.
	PatchStatus(ctx context.Context, nodeName string, data []byte) (*corev1.Node, error)
}

// PodInterface reads, writes and evicts (through EvictionInterface) Pods.
type PodInterface = ResourceInterface[*corev1.Pod, *corev1.PodList]

// EventInterface writes core/v1 Events (kubeevents).
type EventInterface = ResourceInterface[*corev1.Event, *corev1.EventList]

// PersistentVolumeClaimInterface reads the claims of evicted pods' volumes.
type PersistentVolumeClaimInterface = ResourceInterface[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList]

// DaemonSetInterface looks up a pod's DaemonSet.
type DaemonSetInterface = ResourceInterface[*appsv1.DaemonSet, *appsv1.DaemonSetList]

// PodDisruptionBudgetInterface reads and watches budgets.
type PodDisruptionBudgetInterface = ResourceInterface[*policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudgetList]

// LeaseInterface holds drain-budget slots.
type LeaseInterface = ResourceInterface[*coordinationv1.Lease, *coordinationv1.LeaseList]

// VolumeAttachmentInterface reads volume attachments (the volume wait).
type VolumeAttachmentInterface = ResourceInterface[*storagev1.VolumeAttachment, *storagev1.VolumeAttachmentList]

// EvictionInterface asks the API server to evict a pod (the eviction
// subresource, which honours PodDisruptionBudgets).
type EvictionInterface interface {
	Evict(ctx context.Context, eviction *policyv1.Eviction) error
}

// Scheme holds the types of the API groups Interface serves (and nothing
// else); event recorders resolve object references with it.
var Scheme = runtime.NewScheme()

var (
	codecs         = serializer.NewCodecFactory(Scheme)
	parameterCodec = runtime.NewParameterCodec(Scheme)
)

func init() {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, coordinationv1.AddToScheme, storagev1.AddToScheme,
	} {
		if err := add(Scheme); err != nil {
			panic(err) // a programming error: the generated registrations cannot fail
		}
	}
	// The options (GetOptions, ListOptions, ...) as query parameters.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
}

// NewForConfig builds the client for cfg. Its API groups share one HTTP
// client (connections, TLS) and one client-side rate limiter (QPS, burst),
// as a clientset's do.
func NewForConfig(cfg *rest.Config) (Interface, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		if cfg.Burst <= 0 {
			return nil, fmt.Errorf("burst is required to be greater than 0 when RateLimiter is not set and QPS is set to greater than 0")
		}
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes HTTP client: %w", err)
	}
	c := &client{}
	for _, g := range []struct {
		into    *rest.Interface
		version schema.GroupVersion
	}{
		{&c.core, corev1.SchemeGroupVersion},
		{&c.apps, appsv1.SchemeGroupVersion},
		{&c.policy, policyv1.SchemeGroupVersion},
		{&c.coordination, coordinationv1.SchemeGroupVersion},
		{&c.storage, storagev1.SchemeGroupVersion},
	} {
		rc, err := restClientFor(cfg, httpClient, g.version)
		if err != nil {
			return nil, err
		}
		*g.into = rc
	}
	return c, nil
}

// restClientFor is what a generated client's setConfigDefaults and
// NewForConfigAndClient do, with this package's scheme.
func restClientFor(cfg *rest.Config, httpClient *http.Client, gv schema.GroupVersion) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &gv
	c.APIPath = "/apis"
	if gv.Group == "" {
		c.APIPath = "/api"
	}
	c.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(Scheme, codecs).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client for %s: %w", gv, err)
	}
	return rc, nil
}

type client struct {
	core, apps, policy, coordination, storage rest.Interface
}

func (c *client) CoreV1() CoreV1Interface                 { return coreV1{c.core} }
func (c *client) AppsV1() AppsV1Interface                 { return appsV1{c.apps} }
func (c *client) PolicyV1() PolicyV1Interface             { return policyV1{c.policy} }
func (c *client) CoordinationV1() CoordinationV1Interface { return coordinationV1{c.coordination} }
func (c *client) StorageV1() StorageV1Interface           { return storageV1{c.storage} }

// resource builds a generated-style client for one resource.
func resource[T interface {
	*E
	runtime.Object
	metav1.Object
}, L interface {
	*EL
	runtime.Object
}, E, EL any](rc rest.Interface, name, namespace string) *gentype.ClientWithList[T, L] {
	return gentype.NewClientWithList[T, L](name, rc, parameterCodec, namespace,
		func() T { return T(new(E)) }, func() L { return L(new(EL)) }, gentype.PrefersProtobuf[T]())
}

type coreV1 struct{ rc rest.Interface }

func (c coreV1) Nodes() NodeInterface {
	return nodes{resource[*corev1.Node, *corev1.NodeList](c.rc, "nodes", "")}
}

func (c coreV1) Pods(namespace string) PodInterface {
	return resource[*corev1.Pod, *corev1.PodList](c.rc, "pods", namespace)
}

func (c coreV1) Events(namespace string) EventInterface {
	return resource[*corev1.Event, *corev1.EventList](c.rc, "events", namespace)
}

func (c coreV1) PersistentVolumeClaims(namespace string) PersistentVolumeClaimInterface {
	return resource[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList](c.rc, "persistentvolumeclaims", namespace)
}

type nodes struct {
	*gentype.ClientWithList[*corev1.Node, *corev1.NodeList]
}

// PatchStatus is client-go's node expansion: a strategic merge patch of the
// status subresource.
func (n nodes) PatchStatus(ctx context.Context, nodeName string, data []byte) (*corev1.Node, error) {
	return n.Patch(ctx, nodeName, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
}

type appsV1 struct{ rc rest.Interface }

func (c appsV1) DaemonSets(namespace string) DaemonSetInterface {
	return resource[*appsv1.DaemonSet, *appsv1.DaemonSetList](c.rc, "daemonsets", namespace)
}

type policyV1 struct{ rc rest.Interface }

func (c policyV1) PodDisruptionBudgets(namespace string) PodDisruptionBudgetInterface {
	return resource[*policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudgetList](c.rc, "poddisruptionbudgets", namespace)
}

func (c policyV1) Evictions(string) EvictionInterface { return evictions(c) }

type evictions struct{ rc rest.Interface }

// Evict is client-go's eviction expansion: a POST of the policy/v1
// Eviction to the pod's eviction subresource (under /api/v1).
func (e evictions) Evict(ctx context.Context, eviction *policyv1.Eviction) error {
	return e.rc.Post().
		AbsPath("/api/v1").
		Namespace(eviction.Namespace).
		Resource("pods").
		Name(eviction.Name).
		SubResource("eviction").
		Body(eviction).
		Do(ctx).
		Error()
}

type coordinationV1 struct{ rc rest.Interface }

func (c coordinationV1) Leases(namespace string) LeaseInterface {
	return resource[*coordinationv1.Lease, *coordinationv1.LeaseList](c.rc, "leases", namespace)
}

type storageV1 struct{ rc rest.Interface }

func (c storageV1) VolumeAttachments() VolumeAttachmentInterface {
	return resource[*storagev1.VolumeAttachment, *storagev1.VolumeAttachmentList](c.rc, "volumeattachments", "")
}

// ListWatch lists and watches r, a resource of api, for an informer;
// tweak, if not nil, narrows every list and watch (a field selector). Like
// client-go's generated informers, it tells the reflector whether api can
// stream the initial list (WatchList): the API server can, client-go's fake
// (through clientset.Wrap) cannot.
func ListWatch[T, L runtime.Object](api Interface, r ResourceInterface[T, L], tweak func(*metav1.ListOptions)) cache.ListerWatcher {
	if tweak == nil {
		tweak = func(*metav1.ListOptions) {}
	}
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			return r.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			return r.Watch(ctx, o)
		},
	}, api)
}

// StripManagedFields is an informer transform (cache.TransformFunc) that
// drops managedFields, which lifeboat never reads and which are often the
// larger part of a cached object.
func StripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
