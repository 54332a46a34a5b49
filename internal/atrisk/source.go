package atrisk

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Source keeps a Cluster snapshot current with shared informers (one LIST
// and one WATCH per kind, never a LIST in a loop) and signals changes.
type Source struct {
	factory informers.SharedInformerFactory
	changed chan struct{}
	synced  []cache.InformerSynced
	listers listers
}

type listers struct {
	snapshot func() (*Cluster, error)
}

// NewSource prepares informers for every kind an assessment reads; nothing
// is listed until Start.
func NewSource(client kubernetes.Interface) *Source {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(stripManagedFields))
	s := &Source{factory: f, changed: make(chan struct{}, 1)}
	core, apps, policy := f.Core().V1(), f.Apps().V1(), f.Policy().V1()
	nodes, pods, pdbs := core.Nodes(), core.Pods(), policy.PodDisruptionBudgets()
	rss, sts, dss, rcs := apps.ReplicaSets(), apps.StatefulSets(), apps.DaemonSets(), core.ReplicationControllers()
	pvcs, pvs := core.PersistentVolumeClaims(), core.PersistentVolumes()
	for _, inf := range []cache.SharedIndexInformer{
		nodes.Informer(), pods.Informer(), pdbs.Informer(), rss.Informer(), sts.Informer(),
		dss.Informer(), rcs.Informer(), pvcs.Informer(), pvs.Informer(),
	} {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { s.signal() },
			UpdateFunc: func(any, any) { s.signal() },
			DeleteFunc: func(any) { s.signal() },
		})
		s.synced = append(s.synced, inf.HasSynced)
	}
	all := labels.Everything()
	s.listers.snapshot = func() (*Cluster, error) {
		var c Cluster
		var err error
		if c.Nodes, err = nodes.Lister().List(all); err != nil {
			return nil, err
		}
		if c.Pods, err = pods.Lister().List(all); err != nil {
			return nil, err
		}
		if c.PDBs, err = pdbs.Lister().List(all); err != nil {
			return nil, err
		}
		if c.ReplicaSets, err = rss.Lister().List(all); err != nil {
			return nil, err
		}
		if c.StatefulSets, err = sts.Lister().List(all); err != nil {
			return nil, err
		}
		if c.DaemonSets, err = dss.Lister().List(all); err != nil {
			return nil, err
		}
		if c.ReplicationControllers, err = rcs.Lister().List(all); err != nil {
			return nil, err
		}
		if c.PVCs, err = pvcs.Lister().List(all); err != nil {
			return nil, err
		}
		c.PVs, err = pvs.Lister().List(all)
		return &c, err
	}
	return s
}

// stripManagedFields drops what an assessment never reads, to keep the
// caches of a large cluster small.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.ObjectMetaAccessor); ok {
		m.GetObjectMeta().SetManagedFields(nil)
	}
	return obj, nil
}

func (s *Source) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Start starts the informers and waits until their caches are filled, at
// most timeout.
func (s *Source) Start(ctx context.Context, timeout time.Duration) error {
	s.factory.Start(ctx.Done())
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), s.synced...) {
		return &SyncError{Timeout: timeout, Err: wctx.Err()}
	}
	return nil
}

// Shutdown stops the informers and waits for them to end.
func (s *Source) Shutdown() { s.factory.Shutdown() }

// Changed is signalled (coalesced) whenever an object of any watched kind
// is added, updated or deleted.
func (s *Source) Changed() <-chan struct{} { return s.changed }

// Snapshot returns the cached cluster state. The objects are shared with the
// caches: read them, never change them.
func (s *Source) Snapshot() (*Cluster, error) { return s.listers.snapshot() }

// SyncError reports informers that could not fill their caches in time
// (the API server unreachable, or RBAC forbidding a LIST or WATCH).
type SyncError struct {
	Timeout time.Duration
	Err     error
}

func (e *SyncError) Error() string {
	return fmt.Sprintf("reading the cluster: informers not synced within %s (API server unreachable, or RBAC forbids list/watch of nodes, pods, poddisruptionbudgets, replicasets, statefulsets, daemonsets, replicationcontrollers, persistentvolumeclaims, persistentvolumes): %v", e.Timeout, e.Err)
}

func (e *SyncError) Unwrap() error { return e.Err }
