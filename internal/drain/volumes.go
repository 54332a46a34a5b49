package drain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lifeboat-dev/lifeboat/internal/logging"
)

// StepVolumesStillAttached reports that the volumes of the evicted pods
// were still attached to the node when the wait for their detachment ran
// out of time.
const StepVolumesStillAttached StepType = "VolumesStillAttached"

// volumeDetachPoll is how often the VolumeAttachments are listed while
// waiting for the evicted pods' volumes to detach.
const volumeDetachPoll = time.Second

// noDeadlineVolumeWait bounds the wait when the drain has no deadline.
const noDeadlineVolumeWait = 5 * time.Minute

// claimsOf returns "namespace/claim" of every PersistentVolumeClaim the
// pods mount.
func claimsOf(pods []corev1.Pod) []string {
	var out []string
	for i := range pods {
		for _, v := range pods[i].Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				out = append(out, pods[i].Namespace+"/"+v.PersistentVolumeClaim.ClaimName)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// volumeWaitUntil is when the wait for detachment gives up: the deadline
// minus the safety margin (so the machine's own end, a hook's completion or
// an acknowledgement still come in time), or noDeadlineVolumeWait from now
// without a deadline. It is pure.
func volumeWaitUntil(now, deadline time.Time, margin time.Duration) time.Time {
	if deadline.IsZero() {
		return now.Add(noDeadlineVolumeWait)
	}
	return deadline.Add(-margin)
}

// waitVolumesDetached waits, after the node's pods are gone, until no
// VolumeAttachment ties a volume those pods used to the node any more, so
// the Node is deleted (and the hook completed, the event acknowledged, the
// shutdown let through) only when the storage can follow the pods. Volumes
// of DaemonSet and mirror pods are not waited for (they were never evicted).
// At the bound it reports the attachments still there and returns: a
// detach that hangs must not cost the rest of the graceful exit.
func (d *Drainer) waitVolumesDetached(ctx context.Context, node string, pods []corev1.Pod, opts Options, res *Result) {
	claims := claimsOf(pods)
	if len(claims) == 0 {
		return
	}
	volumes := map[string]bool{}
	for _, c := range claims {
		ns, name, _ := strings.Cut(c, "/")
		pvc, err := d.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && pvc.Spec.VolumeName != "" {
			volumes[pvc.Spec.VolumeName] = true
		}
	}
	if len(volumes) == 0 {
		return
	}
	until := volumeWaitUntil(d.clock.Now(), opts.Deadline, newTiming(opts).margin)
	started := d.clock.Now()
	var attached []string
	for {
		attached = attached[:0]
		l, err := d.client.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range l.Items {
				va := &l.Items[i]
				if pv := va.Spec.Source.PersistentVolumeName; va.Spec.NodeName == node && pv != nil && volumes[*pv] {
					attached = append(attached, va.Name+" ("+*pv+")")
				}
			}
			if len(attached) == 0 {
				if waited := d.clock.Since(started); waited >= volumeDetachPoll {
					d.log.Info("volumes of the evicted pods detached", logging.KeyNode, node, "waited", waited.Round(time.Millisecond))
				}
				return
			}
		} else {
			d.log.Warn("cannot list VolumeAttachments; retrying", logging.KeyNode, node, logging.KeyError, err)
		}
		if !d.clock.Now().Add(volumeDetachPoll).Before(until) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-d.clock.After(volumeDetachPoll):
		}
	}
	slices.Sort(attached)
	res.VolumesAttached = slices.Clone(attached)
	msg := fmt.Sprintf("volumes still attached after %s: %s", d.clock.Since(started).Round(time.Second), strings.Join(attached, ", "))
	if len(attached) == 0 {
		msg = "cannot tell whether the volumes detached (VolumeAttachments could not be listed)"
	}
	d.log.Warn("going on without the volumes detached", logging.KeyNode, node, "attachments", attached)
	e := opts.step(StepVolumesStillAttached, node)
	e.Message = msg
	d.emit(e)
}
