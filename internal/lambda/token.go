package lambda

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TokenPrefix starts every EKS bearer token.
const TokenPrefix = "k8s-aws-v1." //nolint:gosec // a format prefix, not a credential

// ClusterIDHeader binds a token to one cluster; it is signed into the URL.
const ClusterIDHeader = "x-k8s-aws-id"

// EKSToken returns a bearer token for an EKS cluster, made as
// aws-iam-authenticator makes it: an sts:GetCallerIdentity request presigned
// with the cluster name in the signed x-k8s-aws-id header and a 60 s
// X-Amz-Expires, base64url-encoded (no padding) after "k8s-aws-v1.". The
// API server's authenticator replays the URL to STS to learn the caller's
// IAM identity; EKS accepts the token for 15 minutes.
func EKSToken(ctx context.Context, client *sts.Client, cluster string) (string, error) {
	addParams := middleware.BuildMiddlewareFunc("lifeboatEKSToken", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			req.Header.Set(ClusterIDHeader, cluster)
			q := req.URL.Query()
			q.Set("X-Amz-Expires", "60")
			req.URL.RawQuery = q.Encode()
		}
		return next.HandleBuild(ctx, in)
	})
	presigned, err := sts.NewPresignClient(client).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, func(so *sts.Options) {
			so.APIOptions = append(so.APIOptions, func(s *middleware.Stack) error {
				return s.Build.Add(addParams, middleware.After)
			})
		})
	})
	if err != nil {
		return "", fmt.Errorf("presigning sts:GetCallerIdentity: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(presigned.URL)), nil
}
