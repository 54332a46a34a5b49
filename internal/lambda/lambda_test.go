//go:build linux

package lambda

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/logging"
	"github.com/lifeboat-dev/lifeboat/internal/queue"
	"github.com/lifeboat-dev/lifeboat/internal/queue/message"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

func fakeAWS(t *testing.T) (*awsfake.Server, aws.Config) {
	fake := awsfake.New(nil)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.SetBaseURL(srv.URL)
	return fake, aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
	}
}

type countingDrainer struct {
	queue.Drainer
	drains atomic.Int32
}

func (c *countingDrainer) Drain(ctx context.Context, node string, o drain.Options) (*drain.Result, error) {
	c.drains.Add(1)
	return c.Drainer.Drain(ctx, node, o)
}

// TestHandlerInvokedTwice invokes the handler twice with one Auto Scaling
// terminate lifecycle event, as AWS may: the first drains the node and
// completes the hook, the second recognises the notice and does nothing
// more.
func TestHandlerInvokedTwice(t *testing.T) {
	c := testbed.Get(t)
	ns := c.Namespace(t)
	id := "i-0lambda" + strings.ReplaceAll(testbed.UniqueName("x"), "-", "")
	node := c.AddNode(t, testbed.UniqueName("ln"), func(n *corev1.Node) { n.Spec.ProviderID = "aws:///us-east-1a/" + id })
	p := testbed.Pod(ns, "web", node.Name)
	if _, err := c.Client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fake, cfg := fakeAWS(t)
	hook := message.Hook{Name: "lifeboat", Group: "workers", InstanceID: id, Transition: message.TransitionTerminating}
	hook.Token = fake.AutoScaling.Start(awsfake.LifecycleAction{Group: hook.Group, Hook: hook.Name, InstanceID: id, Transition: hook.Transition})
	body := message.LifecycleAction("lambda-evt-1", hook, time.Now())

	counter := &countingDrainer{Drainer: drain.New(c.API, drain.Config{Log: logging.Discard()})}
	pol := queue.DefaultPolicy()
	pol.HeartbeatInterval = 200 * time.Millisecond
	h := &Handler{
		Margin: 5 * time.Second, Clock: clock.RealClock{}, Log: logging.Discard(),
		Open: func(ctx context.Context) (*Session, error) {
			return OpenSession(ctx, c.Client, Deps{AWS: cfg, Policy: pol, Drainer: counter, Clock: clock.RealClock{}, Log: logging.Discard()})
		},
	}
	invoke := func() Result {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := h.Handle(ctx, body)
		if err != nil {
			t.Fatalf("Handle: %v", err)
		}
		return res
	}
	first := invoke()
	second := invoke()
	if len(first.Outcomes) != 1 || !strings.HasSuffix(first.Outcomes[0], string(queue.OutcomeDrained)) {
		t.Errorf("first invocation = %+v, want drained", first)
	}
	if len(second.Outcomes) != 1 || !strings.HasSuffix(second.Outcomes[0], string(queue.OutcomeAlreadyHandled)) {
		t.Errorf("second invocation = %+v, want already-handled", second)
	}
	if n := counter.drains.Load(); n != 1 {
		t.Errorf("%d drains, want 1", n)
	}
	act, _ := fake.AutoScaling.Action(hook.Token)
	if act.Result != queue.ResultContinue || act.Completions != 1 || act.TimedOut {
		t.Errorf("lifecycle action = %+v, want completed once with CONTINUE", act)
	}
	c.Eventually(t, 30*time.Second, func() (bool, error) {
		_, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), "web", metav1.GetOptions{})
		return err != nil, nil
	})
}

// TestHandlerDeadlineFromInvocation checks that the drain deadline is the
// invocation's remaining time minus the margin.
func TestHandlerDeadlineFromInvocation(t *testing.T) {
	var got time.Time
	rec := &recordingDrainer{deadline: &got}
	h := &Handler{
		Margin: 10 * time.Second, Clock: clock.RealClock{}, Log: logging.Discard(),
		Open: func(ctx context.Context) (*Session, error) {
			c := testbed.Get(t)
			return OpenSession(ctx, c.Client, Deps{Policy: queue.DefaultPolicy(), Drainer: rec, Clock: clock.RealClock{}, Log: logging.Discard()})
		},
	}
	c := testbed.Get(t)
	id := "i-0deadline" + strings.ReplaceAll(testbed.UniqueName("x"), "-", "")
	c.AddNode(t, testbed.UniqueName("ln"), func(n *corev1.Node) { n.Spec.ProviderID = "aws:///us-east-1a/" + id })
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	dl, _ := ctx.Deadline()
	if _, err := h.Handle(ctx, message.SpotInterruption("dl-1", id, time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if want := dl.Add(-10 * time.Second); !got.Equal(want) {
		t.Errorf("drain deadline %v, want %v (invocation deadline minus margin)", got, want)
	}
}

type recordingDrainer struct{ deadline *time.Time }

func (r *recordingDrainer) Cordon(context.Context, string, drain.Options) (bool, error) {
	return true, nil
}

func (r *recordingDrainer) Taint(context.Context, string, drain.Options) (bool, error) {
	return true, nil
}

func (r *recordingDrainer) Release(context.Context, string, string) (*drain.Mark, error) {
	return nil, nil
}

func (r *recordingDrainer) Drain(_ context.Context, node string, o drain.Options) (*drain.Result, error) {
	*r.deadline = o.Deadline
	return &drain.Result{Node: node}, nil
}

// TestEKSToken checks the token's shape against what aws-iam-authenticator
// verifies: the prefix, a presigned GetCallerIdentity URL valid 60 s, with
// the cluster id header among the signed headers.
func TestEKSToken(t *testing.T) {
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	tok, err := EKSToken(context.Background(), sts.NewFromConfig(cfg), "prod-cluster")
	if err != nil {
		t.Fatal(err)
	}
	enc, ok := strings.CutPrefix(tok, TokenPrefix)
	if !ok || strings.ContainsAny(enc, "=+/") {
		t.Fatalf("token %q lacks the prefix or is not unpadded base64url", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	checks := map[string]bool{
		"https sts host":                   u.Scheme == "https" && strings.HasPrefix(u.Host, "sts.") && strings.HasSuffix(u.Host, ".amazonaws.com"),
		"Action=GetCallerIdentity":         q.Get("Action") == "GetCallerIdentity",
		"Version=2011-06-15":               q.Get("Version") == "2011-06-15",
		"X-Amz-Expires=60":                 q.Get("X-Amz-Expires") == "60",
		"x-k8s-aws-id signed":              strings.Contains(q.Get("X-Amz-SignedHeaders"), ClusterIDHeader),
		"credential scope sts":             strings.Contains(q.Get("X-Amz-Credential"), "/eu-west-1/sts/aws4_request"),
		"signature present":                len(q.Get("X-Amz-Signature")) == 64,
		"cluster not leaked into the URL":  !strings.Contains(string(raw), "prod-cluster"),
		"SigV4 algorithm":                  q.Get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256",
		"signing date within the last min": signedRecently(q.Get("X-Amz-Date")),
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s: URL %s", name, raw)
		}
	}
}

func signedRecently(d string) bool {
	ts, err := time.Parse("20060102T150405Z", d)
	return err == nil && time.Since(ts) < time.Minute
}

// TestKubeconfigFromS3 reaches the test cluster through a kubeconfig stored
// in (fake) S3, the Lambda mode's option for clusters other than EKS.
func TestKubeconfigFromS3(t *testing.T) {
	c := testbed.Get(t)
	fake, cfg := fakeAWS(t)
	data, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	fake.S3.Put("ops", "clusters/test.kubeconfig", data)
	cc := ClusterConfig{KubeconfigS3: "s3://ops/clusters/test.kubeconfig", QPS: 5, Burst: 10}
	if err := cc.Validate(); err != nil {
		t.Fatal(err)
	}
	rc, err := cc.RESTConfig(context.Background(), cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("cluster unreachable through the S3 kubeconfig: %v", err)
	}
}

// TestShippedRBACSufficesToDrain applies deploy/lambda/rbac.yaml to the test
// cluster and drains a node as a member of the group the function's IAM role
// is mapped to: the shipped permissions are enough for the whole job.
func TestShippedRBACSufficesToDrain(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	data, err := os.ReadFile("../../deploy/lambda/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatalf("rbac.yaml: %v", err)
		}
		switch obj.GetKind() {
		case "ClusterRole":
			var cr rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &cr); err != nil {
				t.Fatal(err)
			}
			_ = c.Client.RbacV1().ClusterRoles().Delete(ctx, cr.Name, metav1.DeleteOptions{})
			if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, &cr, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "ClusterRoleBinding":
			var crb rbacv1.ClusterRoleBinding
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &crb); err != nil {
				t.Fatal(err)
			}
			_ = c.Client.RbacV1().ClusterRoleBindings().Delete(ctx, crb.Name, metav1.DeleteOptions{})
			if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, &crb, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected kind %q in rbac.yaml", obj.GetKind())
		}
	}
	rc := rest.CopyConfig(c.Config)
	rc.Impersonate = rest.ImpersonationConfig{UserName: "arn:aws:sts::123456789012:assumed-role/lifeboat-drainer/fn", Groups: []string{"lifeboat:drainers"}}
	as, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t)
	id := "i-0rbac" + strings.ReplaceAll(testbed.UniqueName("x"), "-", "")
	node := c.AddNode(t, testbed.UniqueName("ln"), func(n *corev1.Node) { n.Spec.ProviderID = "aws:///us-east-1a/" + id })
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, testbed.Pod(ns, "web", node.Name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, cfg := fakeAWS(t)
	pol := queue.DefaultPolicy()
	pol.DeleteNode = true
	h := &Handler{
		Margin: 5 * time.Second, Clock: clock.RealClock{}, Log: logging.Discard(),
		Open: func(ctx context.Context) (*Session, error) {
			return OpenSession(ctx, as, Deps{AWS: cfg, Policy: pol, Clock: clock.RealClock{}, Log: logging.Discard()})
		},
	}
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := h.Handle(ictx, message.SpotInterruption("rbac-1", id, time.Now()))
	if err != nil || len(res.Outcomes) != 1 || !strings.HasSuffix(res.Outcomes[0], string(queue.OutcomeDrained)) {
		t.Fatalf("drain as lifeboat:drainers = %+v, %v", res, err)
	}
	c.Eventually(t, 30*time.Second, func() (bool, error) {
		_, err := c.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		return err != nil, nil
	})
}
