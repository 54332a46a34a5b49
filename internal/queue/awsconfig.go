package queue

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// LoadAWSConfig loads the default AWS configuration (environment, shared
// files, IRSA/Pod Identity, instance role) for region, pointing every client
// at endpoint when it is set (a private endpoint, or awsfake in tests).
func LoadAWSConfig(ctx context.Context, region, endpoint string) (aws.Config, error) {
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
