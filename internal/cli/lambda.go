//go:build !lifeboat_agent

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/lifeboat-dev/lifeboat/internal/awsconfig"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/kube/clientset"
	"github.com/lifeboat-dev/lifeboat/internal/lambda"
	"github.com/lifeboat-dev/lifeboat/internal/notify"
	"github.com/lifeboat-dev/lifeboat/internal/queue"
)

func init() { addCommand(newLambdaCommand) }

// RuntimeAPIEnv is set by the AWS Lambda runtime; `lifeboat lambda` serves
// invocations when it is present.
const RuntimeAPIEnv = "AWS_LAMBDA_RUNTIME_API"

// LambdaOptions are the flags of `lifeboat lambda` (usually set through
// LIFEBOAT_* environment variables in the function's configuration).
type LambdaOptions struct {
	// Cluster says how to reach the cluster (EKS token or S3 kubeconfig).
	Cluster lambda.ClusterConfig
	// Kube is used instead of Cluster for local runs (--kubeconfig).
	Kube kube.Options
	// AWS holds the AWS flags.
	AWS AWSOptions
	// Drain holds the shared drain-engine flags.
	Drain DrainFlags
	// Policy holds what to do per event.
	Policy queue.Policy
	// OnRebalance and OnDrainFailure are the lower-case flag values.
	OnRebalance, OnDrainFailure string
	// Actions overrides the action per notice kind ("kind=action").
	Actions []string
	// DetachFromASG detaches spot-interrupted instances from their Auto
	// Scaling groups without decrementing the desired capacity.
	DetachFromASG bool
	// Notify configures notifications (Kubernetes Events are always written).
	Notify notify.Options
	// Margin is kept free before the invocation's deadline.
	Margin time.Duration
	// EventFile, outside Lambda, is an event to handle once (local testing).
	EventFile string
	// LocalTimeout is the deadline of a local --event-file run.
	LocalTimeout time.Duration
}

// NewLambdaOptions returns the defaults.
func NewLambdaOptions() *LambdaOptions {
	o := &LambdaOptions{
		Kube: kube.DefaultOptions(), Drain: DefaultDrainFlags(), Policy: queue.DefaultPolicy(), Notify: notify.DefaultOptions(),
		OnRebalance: "taint", OnDrainFailure: "continue", Margin: 30 * time.Second, LocalTimeout: 15 * time.Minute,
	}
	o.Drain.Force, o.Drain.DeleteEmptyDirData = true, true
	o.Policy.HeartbeatInterval = 20 * time.Second
	return o
}

// AddFlags registers the flags.
func (o *LambdaOptions) AddFlags(fs *pflag.FlagSet) {
	o.Kube.AddFlags(fs)
	o.AWS.AddFlags(fs)
	o.Drain.AddFlags(fs)
	c, p := &o.Cluster, &o.Policy
	fs.StringVar(&c.Name, "cluster-name", c.Name, "EKS cluster name (signed into the STS token).")
	fs.StringVar(&c.Endpoint, "cluster-endpoint", c.Endpoint, "EKS API server endpoint URL.")
	fs.StringVar(&c.CAData, "cluster-ca-data", c.CAData, "EKS cluster CA bundle, base64 (certificateAuthority.data).")
	fs.StringVar(&c.KubeconfigS3, "kubeconfig-s3", c.KubeconfigS3, "s3://bucket/key of a kubeconfig, for clusters other than EKS (replaces the --cluster-* flags).")
	fs.DurationVar(&o.Margin, "deadline-margin", o.Margin, "Time kept free before the invocation's deadline: drains end by then and the hook is completed.")
	fs.BoolVar(&p.DeleteNode, "delete-node", p.DeleteNode, "Delete the Node object after draining an instance that is terminated for good.")
	fs.BoolVar(&p.Taint, "going-away-taint", p.Taint, "Add the taint "+queue.TaintGoingAway+"=<notice kind>:NoSchedule on cordon (unless --taint names another).")
	fs.StringVar(&o.OnRebalance, "on-rebalance", o.OnRebalance, "Rebalance recommendations: taint, cordon, drain or ignore.")
	fs.StringArrayVar(&o.Actions, "action", o.Actions, actionFlagUsage)
	fs.BoolVar(&o.DetachFromASG, "detach-from-asg", o.DetachFromASG, "On a spot interruption, detach the instance from its Auto Scaling group without decrementing the desired capacity "+
		"(autoscaling:DescribeAutoScalingInstances, autoscaling:DetachInstances).")
	fs.StringVar(&o.OnDrainFailure, "on-drain-failure", o.OnDrainFailure, "Lifecycle hook result when a drain ends incomplete: continue or abandon.")
	fs.DurationVar(&p.HeartbeatInterval, "heartbeat-interval", p.HeartbeatInterval, "Interval of lifecycle heartbeats while draining; set it well below the hook's HeartbeatTimeout.")
	fs.BoolVar(&p.PrivateDNSFallback, "private-dns-fallback", p.PrivateDNSFallback, "Find the Node by the instance's private DNS name when no Node has its providerID.")
	fs.StringVar(&p.ManagedTag, "managed-tag", p.ManagedTag, `Only act on instances with this EC2 tag, "key" or "key=value".`)
	fs.StringVar(&o.EventFile, "event-file", o.EventFile, "Outside Lambda: handle the event in this JSON file once and exit (for trying the function locally).")
	fs.DurationVar(&o.LocalTimeout, "local-timeout", o.LocalTimeout, "Outside Lambda: the invocation deadline of an --event-file run.")
	// After --cluster-name: notifications name the EKS cluster.
	o.Notify.AddFlags(fs)
}

// Validate checks the flags.
func (o *LambdaOptions) Validate() error {
	if o.Kube.Kubeconfig == "" {
		if err := o.Cluster.Validate(); err != nil {
			return err
		}
	}
	if err := o.Kube.Validate(); err != nil {
		return err
	}
	if err := o.Drain.Validate(); err != nil {
		return err
	}
	if o.Margin <= 0 {
		return fmt.Errorf("--deadline-margin must be positive, got %s", o.Margin)
	}
	if o.Notify.ClusterName == "" {
		o.Notify.ClusterName = o.Cluster.Name
	}
	if err := o.Notify.Validate(); err != nil {
		return err
	}
	pol := o.Policy
	pol.Drain = o.Drain.Options()
	var err error
	if pol.Actions, err = queueActions(o.OnRebalance, o.Actions); err != nil {
		return err
	}
	pol.OnDrainFailure = strings.ToUpper(o.OnDrainFailure)
	if err := pol.Validate(); err != nil {
		return err
	}
	o.Policy = pol
	o.Cluster.QPS, o.Cluster.Burst = o.Kube.QPS, o.Kube.Burst
	return nil
}

func newLambdaCommand(g *Globals) *cobra.Command {
	o := NewLambdaOptions()
	cmd := &cobra.Command{
		Use:   "lambda",
		Short: "Run as an AWS Lambda function handling Auto Scaling lifecycle and EC2 events from EventBridge",
		Long: "lifeboat lambda is the function's entrypoint: the Lambda runtime (provided.al2023, with the lifeboat binary\n" +
			"as bootstrap running `lifeboat lambda`) sets " + RuntimeAPIEnv + ", and each invocation's EventBridge\n" +
			"event is handled: the instance's node is drained before the invocation's deadline minus --deadline-margin\n" +
			"and the lifecycle hook is completed. Outside Lambda, --event-file handles one event locally.\n" +
			"See docs/QUEUE.md and deploy/lambda/.",
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error { return o.Validate() },
		RunE:    func(cmd *cobra.Command, _ []string) error { return runLambda(cmd.Context(), g, o) },
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runLambda(ctx context.Context, g *Globals, o *LambdaOptions) error {
	h := &lambda.Handler{Margin: o.Margin, Clock: clock.RealClock{}, Log: g.Log, Open: o.opener(g)}
	if _, ok := g.LookupEnv(RuntimeAPIEnv); ok {
		awslambda.StartWithOptions(h.Handle, awslambda.WithContext(ctx))
		return nil
	}
	if o.EventFile == "" {
		return errors.New("not running inside AWS Lambda (" + RuntimeAPIEnv + " is unset); use --event-file to handle one event locally")
	}
	raw, err := os.ReadFile(o.EventFile)
	if err != nil {
		return fmt.Errorf("--event-file: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.LocalTimeout)
	defer cancel()
	res, err := h.Handle(ctx, json.RawMessage(raw))
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintln(g.Stdout, string(out))
	return err
}

// opener connects to the cluster once per invocation (a fresh EKS token each
// time; tokens live 15 minutes, an invocation at most as long).
func (o *LambdaOptions) opener(g *Globals) func(context.Context) (*lambda.Session, error) {
	return func(ctx context.Context) (*lambda.Session, error) {
		awsCfg, err := awsconfig.Load(ctx, o.AWS.Region, o.AWS.Endpoint)
		if err != nil {
			return nil, err
		}
		var client kubernetes.Interface
		var rc *rest.Config
		if o.Kube.Kubeconfig != "" {
			client, rc, err = clientset.ForOptions(&o.Kube)
		} else {
			var rerr error
			rc, rerr = o.Cluster.RESTConfig(ctx, awsCfg, func(so *s3.Options) { so.UsePathStyle = o.AWS.Endpoint != "" })
			if rerr != nil {
				return nil, rerr
			}
			client, err = kubernetes.NewForConfig(rc)
		}
		if err != nil {
			return nil, err
		}
		// Lambda reports like every mode (Kubernetes Events, notifications),
		// without a metrics server: the invocation ends.
		ro := ReportingOptions{Notify: o.Notify}
		rep, err := ro.start(ctx, g.Log, rc, "lambda")
		if err != nil {
			return nil, err
		}
		pol := o.Policy
		if pol.Drain.Budget, err = o.Drain.Budget(clientset.Wrap(client), "lambda", "", g.Log); err != nil {
			rep.close(5 * time.Second)
			return nil, err
		}
		sess, err := lambda.OpenSession(ctx, client, lambda.Deps{
			DetachFromASG: o.DetachFromASG,
			AWS:           awsCfg, Policy: pol, Clock: clock.RealClock{}, Log: g.Log,
			Observer: rep.reporter(), Reporter: rep.reporter(),
		})
		if err != nil {
			rep.close(5 * time.Second)
			return nil, err
		}
		closeSession := sess.Close
		sess.Close = func() { closeSession(); rep.close(5 * time.Second) }
		return sess, nil
	}
}
