// Package awsconfig loads the AWS SDK configuration every lifeboat mode that
// calls AWS APIs shares. It is its own package so that the node agent, which
// needs it only for --detach-from-asg, does not link queue mode.
package awsconfig

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Load loads the default AWS configuration (environment, shared
// files, IRSA/Pod Identity, instance role) for region, pointing every client
// at endpoint when it is set (a private endpoint, or awsfake in tests).
func Load(ctx context.Context, region, endpoint string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("--aws-region must be set (or AWS_REGION)")
	}
	return cfg, nil
}
