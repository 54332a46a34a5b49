//go:build linux

package drain_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lifeboat-dev/lifeboat/internal/drain"
	"github.com/lifeboat-dev/lifeboat/internal/testbed"
)

const detachFinalizer = "external-attacher/test-csi-lifeboat-dev"

// volumeOn creates a PersistentVolume bound to a claim in e.ns and a
// VolumeAttachment of it to node, held by the CSI attacher's finalizer as a
// slow detach would be. It returns the claim and attachment names.
func (e *env) volumeOn(node string) (claim, attachment string) {
	e.t.Helper()
	pv := testbed.UniqueName("pv")
	claim = testbed.UniqueName("data")
	hostPath := corev1.HostPathDirectoryOrCreate
	if _, err := e.c.Client.CoreV1().PersistentVolumes().Create(e.ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pv},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + pv, Type: &hostPath}},
			ClaimRef:               &corev1.ObjectReference{Namespace: e.ns, Name: claim},
			StorageClassName:       "",
		},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = e.c.Client.CoreV1().PersistentVolumes().Delete(context.Background(), pv, metav1.DeleteOptions{})
	})
	empty := ""
	if _, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Create(e.ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			VolumeName:       pv,
			StorageClassName: &empty,
		},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	attachment = testbed.UniqueName("csi")
	if _, err := e.c.Client.StorageV1().VolumeAttachments().Create(e.ctx, &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: attachment, Finalizers: []string{detachFinalizer}},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: "test.csi.lifeboat.dev", NodeName: node,
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv},
		},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.detach(attachment) })
	return claim, attachment
}

// detach finishes the attachment's detach: the attacher drops its finalizer.
func (e *env) detach(attachment string) {
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	_, err := e.c.Client.StorageV1().VolumeAttachments().Patch(context.Background(), attachment, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Error(err)
	}
}

// TestDrainDeleteWaitsForVolumeDetach: a drain-delete whose pod used a
// volume deletes the Node only after the volume's VolumeAttachment is gone
// (the attach-detach controller deletes it once the pod is gone; the
// attacher's finalizer holds it while the storage detaches).
func TestDrainDeleteWaitsForVolumeDetach(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	claim, attachment := e.volumeOn(node)
	e.pod(testbed.Pod(e.ns, "db", node, func(p *corev1.Pod) {
		p.Spec.TerminationGracePeriodSeconds = ptr(int64(0))
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
		}}}
	}))
	e.waitReady("app=db", 1)

	type drained struct {
		res *drain.Result
		err error
		at  time.Time
	}
	done := make(chan drained, 1)
	go func() {
		res, err := e.drainer(nil).Drain(e.ctx, node, drain.Options{
			Force: true, GracePeriodSeconds: -1, DeleteNode: true, WaitForVolumeDetach: true,
			Deadline: time.Now().Add(2 * time.Minute),
		})
		done <- drained{res, err, time.Now()}
	}()
	// The pod goes; the attach-detach controller's part is to delete the
	// attachment, which the attacher's finalizer keeps while it detaches.
	e.c.Eventually(t, 60*time.Second, func() (bool, error) { return len(e.podsOn(node)) == 0, nil })
	if err := e.c.Client.StorageV1().VolumeAttachments().Delete(e.ctx, attachment, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	select {
	case d := <-done:
		t.Fatalf("drain returned while the volume was still attached: %+v, %v", d.res, d.err)
	default:
	}
	if _, err := e.c.Client.CoreV1().Nodes().Get(e.ctx, node, metav1.GetOptions{}); err != nil {
		t.Fatalf("the Node was deleted while its pod's volume was still attached: %v", err)
	}
	detached := time.Now()
	e.detach(attachment)
	d := <-done
	if d.err != nil || !d.res.NodeDeleted || len(d.res.VolumesAttached) != 0 {
		t.Fatalf("drain = %+v, %v; want the Node deleted after the detach", d.res, d.err)
	}
	if d.at.Before(detached) {
		t.Fatalf("drain finished at %s, before the detach at %s", d.at, detached)
	}
	t.Logf("Node deleted %s after the attachment was gone", d.at.Sub(detached).Round(time.Millisecond))
}

// TestVolumeWaitIsBoundedByTheDeadline: an attachment that never goes does
// not cost the rest of the exit: at the deadline minus the margin the drain
// reports it (Result.VolumesAttached, a VolumesStillAttached event) and goes
// on to delete the Node.
func TestVolumeWaitIsBoundedByTheDeadline(t *testing.T) {
	e := newEnv(t)
	node := e.node()
	claim, attachment := e.volumeOn(node)
	e.pod(testbed.Pod(e.ns, "db", node, func(p *corev1.Pod) {
		p.Spec.TerminationGracePeriodSeconds = ptr(int64(0))
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
		}}}
	}))
	e.waitReady("app=db", 1)
	rec := &recorder{}
	res, err := e.drainer(rec).Drain(e.ctx, node, drain.Options{
		Force: true, GracePeriodSeconds: -1, DeleteNode: true, WaitForVolumeDetach: true,
		Deadline: time.Now().Add(8 * time.Second), SafetyMargin: 2 * time.Second,
	})
	if err != nil || !res.NodeDeleted || len(res.VolumesAttached) != 1 {
		t.Fatalf("drain = %+v, %v; want the Node deleted with one attachment reported", res, err)
	}
	if evs := rec.of(drain.StepVolumesStillAttached); len(evs) != 1 {
		t.Fatalf("%d VolumesStillAttached events, want 1", len(evs))
	}
	t.Logf("reported: %v (attachment %s)", res.VolumesAttached, attachment)
}
