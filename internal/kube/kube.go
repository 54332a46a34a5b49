// Package kube builds Kubernetes clients from lifeboat's shared connection
// flags: --kubeconfig, --context, KUBECONFIG, or the in-cluster config.
package kube

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options are the flags every command that talks to the API server shares.
type Options struct {
	// Kubeconfig is the path of a kubeconfig file; empty uses KUBECONFIG,
	// then the in-cluster config, then ~/.kube/config.
	Kubeconfig string
	// Context selects a kubeconfig context; empty uses the current one.
	Context string
	// QPS is the client-side request rate limit towards the API server.
	QPS float32
	// Burst is the client-side burst allowance above QPS.
	Burst int
	// UserAgent identifies lifeboat's requests in audit logs.
	UserAgent string
}

// DefaultOptions returns the defaults: enough QPS to evict a full node
// (110 pods) at once without client-side throttling.
func DefaultOptions() Options {
	return Options{QPS: 50, Burst: 150, UserAgent: "lifeboat"}
}

// ClusterWideOptions are the defaults for the one consumer that drains
// nodes for a whole cluster (queue mode): a burst of interruptions means
// hundreds of cordons at once, which a per-node agent never sees.
func ClusterWideOptions() Options {
	return Options{QPS: 100, Burst: 300, UserAgent: "lifeboat"}
}

// AddFlags registers the connection flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig file (default: $KUBECONFIG, in-cluster config, ~/.kube/config).")
	fs.StringVar(&o.Context, "context", o.Context, "Kubeconfig context to use (default: the current context).")
	fs.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "Client-side QPS limit towards the Kubernetes API server.")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "Client-side burst limit towards the Kubernetes API server.")
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.QPS <= 0 {
		return fmt.Errorf("--kube-api-qps must be positive, got %v", o.QPS)
	}
	if o.Burst < 1 {
		return fmt.Errorf("--kube-api-burst must be at least 1, got %d", o.Burst)
	}
	return nil
}

// RESTConfig resolves the client configuration.
func (o *Options) RESTConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.Context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		if o.Kubeconfig == "" && o.Context == "" {
			if ic, icErr := rest.InClusterConfig(); icErr == nil {
				cfg, err = ic, nil
			} else if !errors.Is(icErr, rest.ErrNotInCluster) {
				err = errors.Join(err, icErr)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("loading Kubernetes client config: %w", err)
		}
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	if o.UserAgent != "" {
		cfg.UserAgent = o.UserAgent
	}
	return cfg, nil
}

// Client returns lifeboat's narrow client for the options (see Interface;
// clientset.ForOptions builds client-go's full clientset).
func (o *Options) Client() (Interface, *rest.Config, error) {
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	c, err := NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return c, cfg, nil
}
