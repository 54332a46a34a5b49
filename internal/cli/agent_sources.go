package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/agent"
	"github.com/lifeboat-dev/lifeboat/internal/asgdetach"
	"github.com/lifeboat-dev/lifeboat/internal/awsconfig"
	"github.com/lifeboat-dev/lifeboat/internal/decide"
	"github.com/lifeboat-dev/lifeboat/internal/kube"
	"github.com/lifeboat-dev/lifeboat/internal/notice"
	alibabanotice "github.com/lifeboat-dev/lifeboat/internal/notice/alibaba"
	awsnotice "github.com/lifeboat-dev/lifeboat/internal/notice/aws"
	azurenotice "github.com/lifeboat-dev/lifeboat/internal/notice/azure"
	"github.com/lifeboat-dev/lifeboat/internal/notice/detect"
	donotice "github.com/lifeboat-dev/lifeboat/internal/notice/digitalocean"
	gcpnotice "github.com/lifeboat-dev/lifeboat/internal/notice/gcp"
	"github.com/lifeboat-dev/lifeboat/internal/notice/nodecondition"
	tencentnotice "github.com/lifeboat-dev/lifeboat/internal/notice/tencent"
)

// sources builds the notice sources: the node-condition source when
// --on-condition rules are set, and the platform's.
func (o *AgentOptions) sources(ctx context.Context, client kube.Interface, platform string, rep *reporters, g *Globals) ([]notice.Source, error) {
	onError := func(source string) func(string) {
		return func(reason string) { rep.metrics.NoticeError(source, reason) }
	}
	var out []notice.Source
	if len(o.OnCondition) > 0 {
		rules, err := nodecondition.ParseRules(o.OnCondition, validAction)
		if err != nil {
			return nil, fmt.Errorf("--on-condition %w", err)
		}
		cond, err := nodecondition.New(nodecondition.Config{
			Client: client, Node: o.Node, Rules: rules, Log: g.Log, OnError: onError(nodecondition.Name),
		})
		if err != nil {
			return nil, err
		}
		out = append(out, cond)
	}
	s, err := o.platformSource(ctx, client, platform, g, onError)
	if err != nil || s == nil {
		return out, err
	}
	return append(out, s), nil
}

// platformSource builds the cloud's notice source; nil for none (host
// shutdown only).
func (o *AgentOptions) platformSource(ctx context.Context, client kube.Interface, platform string, g *Globals,
	onError func(string) func(string),
) (notice.Source, error) {
	switch platform {
	case detect.AWS:
		s, err := awsnotice.New(awsnotice.Config{
			Endpoint: o.MetadataURL, AllowIMDSv1: o.AWSAllowIMDSv1, NodeName: o.Node, Log: g.Log, OnError: onError(platform),
		})
		if err != nil || !o.DetachFromASG {
			return s, err
		}
		// Credentials and region from the environment (AWS_REGION, IRSA, the instance role).
		cfg, err := awsconfig.Load(ctx, "", "")
		if err != nil {
			return nil, fmt.Errorf("--detach-from-asg: %w", err)
		}
		return asgdetach.OnSpot(s, autoscaling.NewFromConfig(cfg), g.Log, onError(platform)), nil
	case detect.Azure:
		pid, _ := providerID(ctx, client, o.Node)
		return azurenotice.New(azurenotice.Config{
			MetadataURL: o.MetadataURL, VMName: o.AzureVMName, ProviderID: pid,
			Node: o.Node, Log: g.Log, OnError: onError(platform), PeersHandled: agent.AzurePeersHandled(client),
		})
	case detect.GCP:
		return gcpnotice.New(gcpnotice.Config{
			MetadataURL: o.MetadataURL, Node: o.Node, PreemptionNotice: o.GCPPreemptionWindow,
			Log: g.Log, OnError: onError(platform),
		})
	case detect.Alibaba:
		return alibabanotice.New(alibabanotice.Config{MetadataURL: o.MetadataURL, Node: o.Node, Log: g.Log, OnError: onError(platform)})
	case detect.Tencent:
		return tencentnotice.New(tencentnotice.Config{MetadataURL: o.MetadataURL, Node: o.Node, Log: g.Log, OnError: onError(platform)})
	case detect.DigitalOcean:
		return donotice.New(donotice.Config{MetadataURL: o.MetadataURL, Node: o.Node, Log: g.Log, OnError: onError(platform)})
	}
	return nil, nil
}

// addOnConditionFlag registers --on-condition.
func addOnConditionFlag(fs *pflag.FlagSet, rules *[]string) {
	fs.StringArrayVar(rules, "on-condition", *rules, "Act on a Node condition, TYPE[=STATUS]=ACTION (repeatable; STATUS defaults to True), "+
		"e.g. VMEventScheduled=drain-delete for AKS node-problem-detector; the deadline comes from a time in the condition's message.")
}

// validateOnCondition checks --on-condition rules.
func validateOnCondition(rules []string) error {
	if _, err := nodecondition.ParseRules(rules, validAction); err != nil {
		return fmt.Errorf("--on-condition %w", err)
	}
	return nil
}

// validAction accepts an action name.
func validAction(a string) error {
	_, err := decide.ParseAction(a)
	return err
}

// detectPlatform is --platform auto: detect.Detect with this node's providerID.
func detectPlatform(ctx context.Context, client kube.Interface, node, metadataURL string, log *slog.Logger) string {
	return detect.Detect(ctx, detect.Config{
		ProviderID:  func(ctx context.Context) (string, error) { return providerID(ctx, client, node) },
		MetadataURL: metadataURL, Node: node, Log: log, RetryDelay: agent.RetryDelay,
	})
}

// providerID reads the Node's spec.providerID; an error means the API
// could not be asked (a missing Node reads as "").
func providerID(ctx context.Context, client kube.Interface, node string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return n.Spec.ProviderID, nil
}
