//go:build linux

package testbed

import (
	_ "embed"
	"os"
	"path/filepath"
)

//go:embed stages.yaml
var podStages []byte

func etcdArgs(dir string, client, peer int) []string {
	cu := "http://127.0.0.1:" + itoa(client)
	pu := "http://127.0.0.1:" + itoa(peer)
	return []string{
		"--name=default", "--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + cu, "--advertise-client-urls=" + cu,
		"--listen-peer-urls=" + pu, "--initial-advertise-peer-urls=" + pu,
		"--initial-cluster=default=" + pu,
		"--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=4294967296",
	}
}

func apiserverArgs(dir string, p *pki, etcdPort, port int) []string {
	return []string{
		"--etcd-servers=http://127.0.0.1:" + itoa(etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + itoa(port),
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file=" + p.serverCert, "--tls-private-key-file=" + p.serverKey,
		"--client-ca-file=" + p.caCert,
		"--service-account-key-file=" + p.saPub, "--service-account-signing-key-file=" + p.saKey,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC", "--allow-privileged=true",
		"--enable-priority-and-fairness=false", "--profiling=false",
		"--endpoint-reconciler-type=none",
		"--max-requests-inflight=1000", "--max-mutating-requests-inflight=500",
		"-v=0",
	}
}

func controllerManagerArgs(kubeconfig string, p *pki) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
		"--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file=" + p.saKey, "--root-ca-file=" + p.caCert,
		"--use-service-account-credentials=false",
		"--kube-api-qps=200", "--kube-api-burst=400",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
		"--controllers=*,-nodeipam", // 1.37 dropped the cloud controllers; 1.34 skips them without --cloud-provider
		"-v=0",
	}
}

func schedulerArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
		"--leader-elect=false", "--secure-port=0", "-v=0",
	}
}

// kwokArgs writes the pod stages and points kwok at them and at kwok's own
// node stages (shipped in its module, copied by hack/controlplane.sh).
func (c *Cluster) kwokArgs() ([]string, error) {
	stages := filepath.Join(c.Dir, "pod-stages.yaml")
	if err := os.WriteFile(stages, podStages, 0o600); err != nil {
		return nil, err
	}
	return []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--config=" + stages,
		"--config=" + filepath.Join(c.BinDir, "stages", "node-initialize.yaml"),
		"--config=" + filepath.Join(c.BinDir, "stages", "node-heartbeat-with-lease.yaml"),
		"--node-lease-duration-seconds=40",
	}, nil
}
