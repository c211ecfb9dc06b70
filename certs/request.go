package certs

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RequestRotation asks the rotator for a rotation, what being RotateServing or RotateCA, by
// annotating the Secret. It is what `webhook rotate` and `kubectl annotate` both do.
func RequestRotation(ctx context.Context, c client.Client, namespace, secretName, what string) error {
	if what != RotateServing && what != RotateCA {
		return fmt.Errorf("rotate %q: want %q or %q", what, RotateServing, RotateCA)
	}
	key := types.NamespacedName{Namespace: namespace, Name: secretName}
	// get and update, not patch: they are all the webhook's own RBAC grants, so the command
	// also works from inside a webhook pod (kubectl exec).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &corev1.Secret{}
		if err := c.Get(ctx, key, s); err != nil {
			return err
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[AnnotationRotate] = what
		return c.Update(ctx, s)
	})
	if err != nil {
		return fmt.Errorf("annotate secret %s: %w", key, err)
	}
	return nil
}

// WaitRotated polls until the rotator has taken the request, that is removed the annotation,
// and returns the serving certificate's PEM then. ctx bounds the wait.
func WaitRotated(ctx context.Context, c client.Client, namespace, secretName string) ([]byte, error) {
	key := types.NamespacedName{Namespace: namespace, Name: secretName}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s := &corev1.Secret{}
		if err := c.Get(ctx, key, s); err != nil {
			return nil, fmt.Errorf("read secret %s: %w", key, err)
		}
		if _, pending := s.Annotations[AnnotationRotate]; !pending {
			return s.Data[KeyServingCert], nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the rotator to take the request on %s: %w", key, ctx.Err())
		case <-tick.C:
		}
	}
}
