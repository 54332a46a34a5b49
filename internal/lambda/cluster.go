package lambda

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ClusterConfig says how the function reaches the cluster: an EKS cluster by
// name, endpoint and CA (authenticated with an STS-presigned token for the
// function's IAM role), or any cluster through a kubeconfig stored in S3.
type ClusterConfig struct {
	// Name is the EKS cluster name (signed into the token).
	Name string
	// Endpoint is the API server URL (https://....eks.amazonaws.com).
	Endpoint string
	// CAData is the cluster's base64-encoded CA bundle, as EKS reports it.
	CAData string
	// KubeconfigS3 is s3://bucket/key of a kubeconfig; it replaces the above.
	KubeconfigS3 string
	// QPS and Burst limit the client.
	QPS   float32
	Burst int
}

// Validate checks the configuration; messages name the flags.
func (c *ClusterConfig) Validate() error {
	if c.KubeconfigS3 != "" {
		if _, _, err := splitS3(c.KubeconfigS3); err != nil {
			return err
		}
		return nil
	}
	if c.Name == "" || c.Endpoint == "" || c.CAData == "" {
		return errors.New("--cluster-name, --cluster-endpoint and --cluster-ca-data must be set (or --kubeconfig-s3)")
	}
	if _, err := base64.StdEncoding.DecodeString(c.CAData); err != nil {
		return fmt.Errorf("--cluster-ca-data must be base64: %w", err)
	}
	return nil
}

func splitS3(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("--kubeconfig-s3 must look like s3://bucket/key, got %q", u)
	}
	return bucket, key, nil
}

// RESTConfig builds the client configuration for one invocation.
func (c *ClusterConfig) RESTConfig(ctx context.Context, cfg aws.Config, s3Opts ...func(*s3.Options)) (*rest.Config, error) {
	var rc *rest.Config
	if c.KubeconfigS3 != "" {
		bucket, key, err := splitS3(c.KubeconfigS3)
		if err != nil {
			return nil, err
		}
		obj, err := s3.NewFromConfig(cfg, s3Opts...).GetObject(ctx, &s3.GetObjectInput{
			Bucket: aws.String(bucket),
			Key:    aws.String(key),
		})
		if err != nil {
			return nil, fmt.Errorf("fetching kubeconfig %s: %w", c.KubeconfigS3, err)
		}
		defer obj.Body.Close()
		data, err := io.ReadAll(obj.Body)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig %s: %w", c.KubeconfigS3, err)
		}
		if rc, err = clientcmd.RESTConfigFromKubeConfig(data); err != nil {
			return nil, fmt.Errorf("parsing kubeconfig %s: %w", c.KubeconfigS3, err)
		}
	} else {
		ca, err := base64.StdEncoding.DecodeString(c.CAData)
		if err != nil {
			return nil, fmt.Errorf("--cluster-ca-data: %w", err)
		}
		token, err := EKSToken(ctx, sts.NewFromConfig(cfg), c.Name)
		if err != nil {
			return nil, err
		}
		rc = &rest.Config{Host: c.Endpoint, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	}
	rc.QPS, rc.Burst, rc.UserAgent = c.QPS, c.Burst, "lifeboat-lambda"
	return rc, nil
}
