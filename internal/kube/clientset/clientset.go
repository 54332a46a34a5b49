// Package clientset adapts client-go's full clientset to kube.Interface,
// for the modes that hold one anyway (queue and Lambda mode, plan) and for
// tests on client-go's fake. The node agent never imports it: linking the
// clientset is what kube.Interface exists to avoid.
package clientset

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/watchlist"

	"github.com/lifeboat-dev/lifeboat/internal/kube"
)

// Wrap returns cs as a kube.Interface.
func Wrap(cs kubernetes.Interface) kube.Interface { return wrapped{cs} }

// wrapped is every API group of kube.Interface at once: their method
// names do not overlap.
type wrapped struct{ cs kubernetes.Interface }

// IsWatchListSemanticsUnSupported passes on what cs says about streaming
// lists (client-go's fake cannot), for kube.ListWatch.
func (w wrapped) IsWatchListSemanticsUnSupported() bool {
	return watchlist.DoesClientNotSupportWatchListSemantics(w.cs)
}

func (w wrapped) CoreV1() kube.CoreV1Interface                 { return w }
func (w wrapped) AppsV1() kube.AppsV1Interface                 { return w }
func (w wrapped) PolicyV1() kube.PolicyV1Interface             { return w }
func (w wrapped) CoordinationV1() kube.CoordinationV1Interface { return w }
func (w wrapped) StorageV1() kube.StorageV1Interface           { return w }

func (w wrapped) Nodes() kube.NodeInterface { return w.cs.CoreV1().Nodes() }

func (w wrapped) Pods(ns string) kube.PodInterface { return w.cs.CoreV1().Pods(ns) }

func (w wrapped) Events(ns string) kube.EventInterface { return w.cs.CoreV1().Events(ns) }

func (w wrapped) PersistentVolumeClaims(ns string) kube.PersistentVolumeClaimInterface {
	return w.cs.CoreV1().PersistentVolumeClaims(ns)
}

func (w wrapped) DaemonSets(ns string) kube.DaemonSetInterface { return w.cs.AppsV1().DaemonSets(ns) }

func (w wrapped) PodDisruptionBudgets(ns string) kube.PodDisruptionBudgetInterface {
	return w.cs.PolicyV1().PodDisruptionBudgets(ns)
}

func (w wrapped) Evictions(ns string) kube.EvictionInterface { return w.cs.PolicyV1().Evictions(ns) }

func (w wrapped) Leases(ns string) kube.LeaseInterface { return w.cs.CoordinationV1().Leases(ns) }

func (w wrapped) VolumeAttachments() kube.VolumeAttachmentInterface {
	return w.cs.StorageV1().VolumeAttachments()
}

// ForOptions returns client-go's full clientset for o.
func ForOptions(o *kube.Options) (kubernetes.Interface, *rest.Config, error) {
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	return cs, cfg, nil
}
