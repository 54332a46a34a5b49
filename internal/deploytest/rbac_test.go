//go:build linux

package deploytest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dev/lifeboat/internal/handled"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

// identity is someone lifeboat runs as: a kubeconfig for the binary and a
// client for checks.
type identity struct {
	name       string
	kubeconfig string
	client     kubernetes.Interface
}

// TestChartRBAC applies the chart's RBAC for real and runs lifeboat with
// nothing but the chart's ServiceAccount tokens (and, for the systemd unit,
// a kubelet identity in group system:nodes): drains succeed, and anything
// beyond lifeboat's job is forbidden.
func TestChartRBAC(t *testing.T) {
	c := testbed.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	rel := "rbac-" + ns
	values := set(baseValues(), "queue.enabled", true, "rbac.bindNodeGroup", true)
	_, objs := mustRender(t, rel, ns, values)
	applyRBAC(t, c, ns, objs)
	agentSA := one(t, objs, "ServiceAccount", "-agent").GetName()
	queueSA := one(t, objs, "ServiceAccount", "-queue").GetName()

	dir := t.TempDir()
	bin := buildLifeboat(t, dir)
	agentID := serviceAccountIdentity(t, c, dir, ns, agentSA)
	queueID := serviceAccountIdentity(t, c, dir, ns, queueSA)

	pool := testbed.UniqueName("rbac-pool")
	inPool := func(n *corev1.Node) { n.Labels[testbed.LabelPool] = pool }
	n1 := c.AddNode(t, testbed.UniqueName("rbac"), inPool, func(n *corev1.Node) { n.Spec.ProviderID = "aws:///us-east-1a/" + instanceID }).Name
	kubelet := nodeIdentity(t, c, dir, "kubelet", "system:node:"+n1)

	t.Run("access", func(t *testing.T) { checkAccess(t, ns, agentID, queueID, kubelet) })

	t.Run("forbidden calls", func(t *testing.T) {
		cs := agentID.client
		pod := testbed.Pod(ns, "intruder", n1)
		forbidden(t, "create a pod", func() error { _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); return err })
		forbidden(t, "list secrets in all namespaces", func() error { _, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err })
		forbidden(t, "read a secret in its own namespace", func() error {
			_, err := cs.CoreV1().Secrets(ns).Get(ctx, "anything", metav1.GetOptions{})
			return err
		})
		forbidden(t, "delete a namespace", func() error { return cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) })
		forbidden(t, "list nodes", func() error { _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); return err })
		forbidden(t, "scale a deployment", func() error {
			_, err := cs.AppsV1().Deployments(ns).Create(ctx, testbed.Deployment(ns, "x", pool, 1), metav1.CreateOptions{})
			return err
		})
	})

	// Workload: a Deployment behind a PDB, a DaemonSet and a bare pod on n1,
	// then a second node for the replacements.
	web := testbed.Deployment(ns, "web", pool, 3)
	mustCreate(t, func() error {
		_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, web, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, testbed.PDB(ns, "web", "web", 1), metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.Client.AppsV1().DaemonSets(ns).Create(ctx, daemonSet(ns, pool), metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := c.Client.CoreV1().Pods(ns).Create(ctx, testbed.Pod(ns, "bare", n1), metav1.CreateOptions{})
		return err
	})
	waitPods(t, c, ns, "app=web", n1, 3)
	waitPods(t, c, ns, "app=node-agent", n1, 1)
	n2 := c.AddNode(t, testbed.UniqueName("rbac"), inPool).Name
	waitPods(t, c, ns, "app=node-agent", n2, 1)

	t.Run("drain as the agent ServiceAccount", func(t *testing.T) {
		code, _, stderr := run(t, bin, 3*time.Minute, "drain", n1, "--kubeconfig", agentID.kubeconfig,
			"--force", "--timeout", "2m", "--progress", "never", "--log-format", "json")
		if code != 0 {
			t.Fatalf("lifeboat drain exited %d", code)
		}
		noForbidden(t, stderr)
		node, err := c.Client.CoreV1().Nodes().Get(ctx, n1, metav1.GetOptions{})
		if err != nil || !node.Spec.Unschedulable {
			t.Fatalf("node %s not cordoned: %v", n1, err)
		}
		if left := podsOn(t, c, ns, "app=web", n1) + podsOn(t, c, ns, "app=bare", n1); left != 0 {
			t.Errorf("%d evictable pods left on %s", left, n1)
		}
		if podsOn(t, c, ns, "app=node-agent", n1) != 1 {
			t.Errorf("the DaemonSet pod must stay on %s", n1)
		}
		waitPods(t, c, ns, "app=web", n2, 3)
	})

	t.Run("uncordon as the agent ServiceAccount", func(t *testing.T) {
		if code, _, stderr := run(t, bin, time.Minute, "uncordon", n1, "--kubeconfig", agentID.kubeconfig); code != 0 {
			t.Fatalf("lifeboat uncordon exited %d: %s", code, stderr)
		}
		node, err := c.Client.CoreV1().Nodes().Get(ctx, n1, metav1.GetOptions{})
		if err != nil || node.Spec.Unschedulable {
			t.Fatalf("node %s still cordoned: %v", n1, err)
		}
	})

	t.Run("agent in a DaemonSet pod", func(t *testing.T) {
		// The pod lifeboat runs as; SIGTERM reads it and the Node to decide.
		own := testbed.Pod(ns, "lifeboat-agent-self", n2)
		mustCreate(t, func() error {
			_, err := c.Client.CoreV1().Pods(ns).Create(ctx, own, metav1.CreateOptions{})
			return err
		})
		// The chart's own arguments, with the downward-API environment the
		// DaemonSet gives; only the connection, the platform (no cloud here)
		// and the metrics port (the pod's is the host's) are overridden.
		addr := freeAddr(t)
		args := append(containerArgs(t, objs, "DaemonSet", "-agent"), "--kubeconfig", agentID.kubeconfig, "--platform", "none", "--metrics-address", addr)
		p := startEnv(t, bin, []string{"NODE_NAME=" + n2, "POD_NAME=" + own.Name, "POD_NAMESPACE=" + ns}, args...)
		p.waitLog(t, 60*time.Second, "agent watching for notices")
		waitReady(t, addr)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 60*time.Second); code != 0 {
			t.Errorf("agent exited %d\n%s", code, p.stderr)
		}
		stderr := p.stderr.String()
		t.Logf("agent log:\n%s", stderr)
		noForbidden(t, stderr)
		if strings.Contains(stderr, "reconciliation failed") {
			t.Errorf("start-up reconciliation failed:\n%s", stderr)
		}
		// Reading its own pod and the Node worked: the decision is the
		// informed one, not "cannot read".
		if !strings.Contains(stderr, "the node does not report a shutdown") {
			t.Errorf("the agent did not read its pod and node on SIGTERM:\n%s", stderr)
		}
		node, err := c.Client.CoreV1().Nodes().Get(ctx, n2, metav1.GetOptions{})
		if err != nil || node.Spec.Unschedulable {
			t.Errorf("a DaemonSet pod's SIGTERM must not drain (node %s unschedulable=%v, err %v)", n2, node != nil && node.Spec.Unschedulable, err)
		}
	})

	t.Run("systemd agent with kubelet credentials", func(t *testing.T) {
		// The systemd unit runs with the kubelet's kubeconfig: identity
		// system:node:<name> in group system:nodes, bound by rbac.bindNodeGroup.
		kubelet := nodeIdentity(t, c, dir, "kubelet-"+n2, "system:node:"+n2)
		addr := freeAddr(t)
		p := start(t, bin, "agent", "--kubeconfig", kubelet.kubeconfig, "--node", n2, "--platform", "none",
			// always: this test host has no shutdown job queued; what is tested
			// here is that the kubelet's credentials suffice for the drain.
			"--run-mode", "host", "--shutdown-drain", "always", "--shutdown-timeout", "90s", "--shutdown-delete-node", "never",
			"--metrics-address", addr, "--log-format", "json")
		p.waitLog(t, 60*time.Second, "agent watching for notices")
		waitReady(t, addr)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("agent exited %d after its shutdown drain\n%s", code, p.stderr)
		}
		t.Logf("agent output:\n%s\n%s", p.stdout, p.stderr)
		noForbidden(t, p.stderr.String())
		node, err := c.Client.CoreV1().Nodes().Get(ctx, n2, metav1.GetOptions{})
		if err != nil || !node.Spec.Unschedulable {
			t.Fatalf("host shutdown did not cordon %s: %v", n2, err)
		}
		if left := podsOn(t, c, ns, "app=web", n2); left != 0 {
			t.Errorf("%d web pods left on %s after the shutdown drain", left, n2)
		}
		waitPods(t, c, ns, "app=web", n1, 3)
	})

	t.Run("queue consumer as the queue ServiceAccount", func(t *testing.T) {
		n3 := c.AddNode(t, testbed.UniqueName("rbac"), inPool).Name
		testQueueConsumer(t, c, bin, ns, queueID, containerArgs(t, objs, "Deployment", "-queue"), n1, n3)
	})

	t.Run("drain and delete the node as the queue ServiceAccount", func(t *testing.T) {
		code, _, stderr := run(t, bin, 3*time.Minute, "drain", n2, "--kubeconfig", queueID.kubeconfig,
			"--force", "--delete-node", "--timeout", "2m", "--progress", "never")
		if code != 0 {
			t.Fatalf("lifeboat drain --delete-node exited %d", code)
		}
		noForbidden(t, stderr)
		if _, err := c.Client.CoreV1().Nodes().Get(ctx, n2, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("node %s still exists after --delete-node: %v", n2, err)
		}
	})
}

// instanceID is n1's EC2 instance, named by the queue test's spot notice.
const instanceID = "i-0d5e1f00c0ffee123"

// containerArgs returns the rendered arguments of a workload's container.
func containerArgs(t *testing.T, objs []*unstructured.Unstructured, kind, suffix string) []string {
	t.Helper()
	return podSpecOf(t, one(t, objs, kind, suffix)).Containers[0].Args
}

// testQueueConsumer runs `lifeboat queue` with the chart's arguments under
// the queue ServiceAccount against a local SQS: it must win the Lease the
// chart's Role allows, index Nodes, and drain the node a spot interruption
// names (n1) onto the spare node.
func testQueueConsumer(t *testing.T, c *testbed.Cluster, bin, ns string, id identity, args []string, node, spare string) {
	ctx := context.Background()
	fake := awsfake.New(nil)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.SetBaseURL(srv.URL)
	queueURL, err := fake.SQS.CreateQueue("lifeboat", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	args = append(args, "--kubeconfig", id.kubeconfig, "--queue-url", queueURL, "--aws-endpoint", srv.URL,
		"--aws-region", awsfake.Region, "--metrics-address", addr, "--wait-time", "1s")
	p := startEnv(t, bin, []string{
		"POD_NAME=lifeboat-queue-test", "POD_NAMESPACE=" + ns,
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true",
	}, args...)
	p.waitLog(t, 60*time.Second, "became leader")
	waitReady(t, addr)
	lease, err := c.Client.CoordinationV1().Leases(ns).Get(ctx, "lifeboat-queue", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "lifeboat-queue-test" {
		t.Fatalf("lease %s/lifeboat-queue not held by the consumer: %+v, %v", ns, lease, err)
	}
	body := `{"version":"0","id":"5f2a9d3c-0000-4000-8000-deploytest01","detail-type":"EC2 Spot Instance Interruption Warning",` +
		`"source":"aws.ec2","account":"` + awsfake.Account + `","time":"` + time.Now().UTC().Format(time.RFC3339) + `","region":"` + awsfake.Region + `",` +
		`"resources":["arn:aws:ec2:` + awsfake.Region + `:` + awsfake.Account + `:instance/` + instanceID + `"],"detail":{"instance-id":"` + instanceID + `","instance-action":"terminate"}}`
	if _, err := fake.SQS.Send(queueURL, body); err != nil {
		t.Fatal(err)
	}
	waitPods(t, c, ns, "app=web", spare, 3)
	c.Eventually(t, 60*time.Second, func() (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		return err == nil && n.Spec.Unschedulable && n.Annotations[handled.Annotation] != "", err
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t, 60*time.Second)
	t.Logf("queue consumer log:\n%s", p.stderr)
	if code != 0 {
		t.Errorf("lifeboat queue exited %d", code)
	}
	noForbidden(t, p.stderr.String())
	if counts := fake.SQS.Counts("lifeboat"); counts.Visible+counts.InFlight != 0 || counts.Deleted != 1 {
		t.Errorf("the spot notice was not deleted from the queue after its drain: %+v", counts)
	}
}

// applyRBAC applies the rendered ServiceAccounts and RBAC objects for real
// and removes the cluster-scoped ones when the test ends.
func applyRBAC(t *testing.T, c *testbed.Cluster, ns string, objs []*unstructured.Unstructured) {
	t.Helper()
	var docs bytes.Buffer
	var clusterScoped []string
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
			clusterScoped = append(clusterScoped, strings.ToLower(o.GetKind())+"/"+o.GetName())
		case "ServiceAccount", "Role", "RoleBinding":
		default:
			continue
		}
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
		docs.WriteString("---\n")
	}
	t.Cleanup(func() {
		_, _, _ = kubectl(t, c, nil, append([]string{"delete", "--ignore-not-found"}, clusterScoped...)...)
	})
	if out, stderr, err := kubectl(t, c, docs.Bytes(), "apply", "--server-side", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("applying the chart's RBAC: %v\n%s%s", err, stderr, out)
	}
}

// serviceAccountIdentity gets a token for a ServiceAccount through the
// TokenRequest API and writes a kubeconfig that uses only that token.
func serviceAccountIdentity(t *testing.T, c *testbed.Cluster, dir, ns, sa string) identity {
	t.Helper()
	exp := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, sa, err)
	}
	return writeIdentity(t, c, dir, sa, &clientcmdapi.AuthInfo{Token: tr.Status.Token})
}

// nodeIdentity impersonates a kubelet (user system:node:<name>, group
// system:nodes) with the admin's certificate.
func nodeIdentity(t *testing.T, c *testbed.Cluster, dir, name, user string) identity {
	t.Helper()
	tls := c.Config.TLSClientConfig
	return writeIdentity(t, c, dir, name, &clientcmdapi.AuthInfo{
		ClientCertificate: tls.CertFile, ClientKey: tls.KeyFile,
		Impersonate: user, ImpersonateGroups: []string{"system:nodes", "system:authenticated"},
	})
}

func writeIdentity(t *testing.T, c *testbed.Cluster, dir, name string, auth *clientcmdapi.AuthInfo) identity {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthority: c.Config.CAFile}
	cfg.AuthInfos[name] = auth
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name}
	cfg.CurrentContext = "test"
	path := filepath.Join(dir, name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(rc))
	if err != nil {
		t.Fatal(err)
	}
	return identity{name: name, kubeconfig: path, client: cs}
}

// access is one question to the authorizer.
type access struct {
	verb, group, resource, subresource, namespace, name string
	want                                                bool
}

// checkAccess asks the API server, as each identity, exactly what lifeboat
// needs and a selection of what it must not have.
func checkAccess(t *testing.T, ns string, agent, queue, kubelet identity) {
	drainRules := []access{
		{"list", "", "pods", "", "", "", true},
		{"watch", "", "pods", "", "", "", true},
		{"get", "", "pods", "", ns, "", true},
		{"delete", "", "pods", "", ns, "", true},
		{"create", "", "pods", "eviction", ns, "", true},
		{"list", "policy", "poddisruptionbudgets", "", "", "", true},
		{"watch", "policy", "poddisruptionbudgets", "", "", "", true},
		{"get", "apps", "daemonsets", "", ns, "", true},
		{"create", "", "events", "", "default", "", true},
		{"patch", "", "events", "", ns, "", true},
		// Never needed for a drain.
		{"create", "", "pods", "", ns, "", false},
		{"update", "", "pods", "", ns, "", false},
		{"patch", "", "pods", "", ns, "", false},
		{"get", "", "secrets", "", ns, "", false},
		{"list", "", "secrets", "", "", "", false},
		{"get", "", "configmaps", "", ns, "", false},
		{"delete", "", "namespaces", "", "", ns, false},
		{"list", "apps", "daemonsets", "", "", "", false},
		{"delete", "apps", "daemonsets", "", ns, "", false},
		{"create", "apps", "deployments", "", ns, "", false},
		{"update", "", "nodes", "status", "", "", false},
		{"create", "", "nodes", "", "", "", false},
		{"delete", "", "events", "", ns, "", false},
		{"create", "", "serviceaccounts", "token", ns, "", false},
		{"escalate", "rbac.authorization.k8s.io", "clusterroles", "", "", "", false},
		{"impersonate", "", "users", "", "", "", false},
	}
	agentNodes := []access{
		{"get", "", "nodes", "", "", "some-node", true},
		{"patch", "", "nodes", "", "", "some-node", true},
		{"delete", "", "nodes", "", "", "some-node", true},
		{"list", "", "nodes", "", "", "", false},
		{"watch", "", "nodes", "", "", "", false},
		{"update", "", "nodes", "", "", "some-node", false},
		{"create", "coordination.k8s.io", "leases", "", ns, "", false},
	}
	queueOnly := []access{
		{"get", "", "nodes", "", "", "some-node", true},
		{"list", "", "nodes", "", "", "", true},
		{"watch", "", "nodes", "", "", "", true},
		{"patch", "", "nodes", "", "", "some-node", true},
		{"update", "", "nodes", "", "", "some-node", false}, // every node write is a patch
		{"delete", "", "nodes", "", "", "some-node", true},
		{"create", "coordination.k8s.io", "leases", "", ns, "", true},
		{"get", "coordination.k8s.io", "leases", "", ns, "lifeboat-queue", true},
		{"update", "coordination.k8s.io", "leases", "", ns, "lifeboat-queue", true},
		{"get", "coordination.k8s.io", "leases", "", ns, "someone-elses-lease", false},
		{"update", "coordination.k8s.io", "leases", "", ns, "someone-elses-lease", false},
		{"delete", "coordination.k8s.io", "leases", "", ns, "lifeboat-queue", false},
		{"create", "coordination.k8s.io", "leases", "", "kube-system", "", false},
		{"list", "coordination.k8s.io", "leases", "", ns, "", false},
	}
	for _, tc := range []struct {
		id    identity
		rules []access
	}{
		{agent, append(append([]access{}, drainRules...), agentNodes...)},
		{queue, append(append([]access{}, drainRules...), queueOnly...)},
		{kubelet, append(append([]access{}, drainRules...), agentNodes...)},
	} {
		t.Run(tc.id.name, func(t *testing.T) {
			for _, a := range tc.rules {
				got := allowed(t, tc.id.client, a)
				if got != a.want {
					t.Errorf("%s may %s %s: got %v, want %v", tc.id.name, a.verb, describe(a), got, a.want)
				}
			}
		})
	}
}

func describe(a access) string {
	r := a.resource
	if a.subresource != "" {
		r += "/" + a.subresource
	}
	if a.group != "" {
		r += "." + a.group
	}
	if a.name != "" {
		r += " " + a.name
	}
	if a.namespace != "" {
		r += " in " + a.namespace
	} else {
		r += " (cluster-wide)"
	}
	return r
}

func allowed(t *testing.T, cs kubernetes.Interface, a access) bool {
	t.Helper()
	r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace, Name: a.name,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status.Allowed
}

func forbidden(t *testing.T, what string, call func() error) {
	t.Helper()
	if err := call(); !apierrors.IsForbidden(err) {
		t.Errorf("%s: want 403 Forbidden, got %v", what, err)
	}
}

func noForbidden(t *testing.T, logs string) {
	t.Helper()
	if strings.Contains(strings.ToLower(logs), "forbidden") {
		t.Errorf("lifeboat hit a permission it lacks:\n%s", logs)
	}
}

func mustCreate(t *testing.T, create func() error) {
	t.Helper()
	if err := create(); err != nil {
		t.Fatal(err)
	}
}

// daemonSet is a node agent on the pool's nodes.
func daemonSet(ns, pool string) *appsv1.DaemonSet {
	labels := map[string]string{"app": "node-agent"}
	tmpl := testbed.Pod(ns, "", "")
	tmpl.Spec.NodeSelector = map[string]string{testbed.LabelPool: pool}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "node-agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: tmpl.Spec},
		},
	}
}

// podsOn counts pods matching selector on node that are not terminating.
func podsOn(t *testing.T, c *testbed.Cluster, ns, selector, node string) int {
	t.Helper()
	l, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: selector, FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range l.Items {
		if l.Items[i].DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// waitPods waits until n Ready pods matching selector run on node.
func waitPods(t *testing.T, c *testbed.Cluster, ns, selector, node string, n int) {
	t.Helper()
	c.Eventually(t, 90*time.Second, func() (bool, error) {
		l, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
			LabelSelector: selector, FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
		})
		if err != nil {
			return false, err
		}
		ready := 0
		for i := range l.Items {
			if testbed.PodReady(&l.Items[i]) {
				ready++
			}
		}
		return ready == n, nil
	})
}

// waitReady waits for the metrics server's /readyz to answer 200.
func waitReady(t *testing.T, addr string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	testbed.Eventually(t, 30*time.Second, func() (bool, error) {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}
