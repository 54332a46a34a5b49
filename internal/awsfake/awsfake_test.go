package awsfake_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/lifeboat-dev/lifeboat/internal/awsfake"
)

func start(t *testing.T) (*awsfake.Server, aws.Config) {
	t.Helper()
	fake := awsfake.New(nil)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.SetBaseURL(srv.URL)
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint:     aws.String(srv.URL),
		RetryMaxAttempts: 1,
	}
	return fake, cfg
}

func receive(t *testing.T, c *sqs.Client, url string, wait, vis int32) []sqstypes.Message {
	t.Helper()
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: wait, VisibilityTimeout: vis,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

// TestSQSVisibilityAndReceiptHandles drives the fake through the real SDK
// client: a received message is invisible until its visibility timeout
// ends, comes back with a new receipt handle and a higher receive count, and
// only the latest handle deletes it.
func TestSQSVisibilityAndReceiptHandles(t *testing.T) {
	fake, cfg := start(t)
	c := sqs.NewFromConfig(cfg)
	ctx := context.Background()
	created, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("events")})
	if err != nil {
		t.Fatal(err)
	}
	url := *created.QueueUrl
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(`{"hello":"world"}`)})
	if err != nil {
		t.Fatalf("SendMessage (the SDK checks the MD5): %v", err)
	}
	first := receive(t, c, url, 0, 1)
	if len(first) != 1 || *first[0].MessageId != *sent.MessageId || first[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("first receive = %+v", first)
	}
	if got := receive(t, c, url, 0, 1); len(got) != 0 {
		t.Fatalf("message visible during its visibility timeout: %+v", got)
	}
	// Long polling returns as soon as the timeout ends, with a new handle.
	start := time.Now()
	second := receive(t, c, url, 5, 30)
	if len(second) != 1 || second[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("second receive = %+v", second)
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("long poll did not return when the message became visible (took %s)", time.Since(start))
	}
	if *second[0].ReceiptHandle == *first[0].ReceiptHandle {
		t.Fatal("receipt handle reused")
	}
	// The stale handle is accepted but does not delete.
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if st, _ := fake.SQS.State(*sent.MessageId); st.Deleted {
		t.Fatal("stale receipt handle deleted the message")
	}
	var apiErr smithy.APIError
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: aws.String("bogus"), VisibilityTimeout: 5})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ReceiptHandleIsInvalid" {
		t.Fatalf("bogus handle: %v", err)
	}
	// Extending and then releasing visibility with the current handle.
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	third := receive(t, c, url, 0, 30)
	if len(third) != 1 {
		t.Fatal("released message not receivable")
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: third[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if st, _ := fake.SQS.State(*sent.MessageId); !st.Deleted {
		t.Fatal("latest handle did not delete the message")
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{"All"}})
	if err != nil || attrs.Attributes["ApproximateNumberOfMessages"] != "0" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("attributes %v, %v", attrs, err)
	}
	_, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url + "-missing")})
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("missing queue: %v", err)
	}
}

// TestSQSDeadLetterRedrive checks that a message received more than
// maxReceiveCount times moves to the dead-letter queue.
func TestSQSDeadLetterRedrive(t *testing.T) {
	fake, cfg := start(t)
	c := sqs.NewFromConfig(cfg)
	if _, err := fake.SQS.CreateQueue("dlq", nil); err != nil {
		t.Fatal(err)
	}
	url, err := fake.SQS.CreateQueue("main", map[string]string{
		"RedrivePolicy":     `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":"2"}`,
		"VisibilityTimeout": "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := fake.SQS.Send(url, "poison")
	for i := 1; i <= 2; i++ {
		got := receive(t, c, url, 0, 0)
		if len(got) != 1 {
			t.Fatalf("receive %d: %d messages", i, len(got))
		}
	}
	if got := receive(t, c, url, 0, 0); len(got) != 0 {
		t.Fatalf("third receive returned %d messages, want the message moved", len(got))
	}
	if st, _ := fake.SQS.State(id); st.Queue != "dlq" {
		t.Fatalf("message in %q, want dlq", st.Queue)
	}
}

// TestSQSRedrivePolicyAttribute reads a queue's RedrivePolicy through the
// SDK as queue mode does: normalised JSON (the count as a number) when a
// dead-letter queue is set, left out when none is, and an unknown attribute
// name refused with InvalidAttributeName.
func TestSQSRedrivePolicyAttribute(t *testing.T) {
	fake, cfg := start(t)
	c := sqs.NewFromConfig(cfg)
	ctx := context.Background()
	withDLQ, err := fake.SQS.CreateQueue("main", map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":"3"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := fake.SQS.CreateQueue("plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func(url string, names ...sqstypes.QueueAttributeName) (map[string]string, error) {
		out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(url),
			AttributeNames: names,
		})
		if err != nil {
			return nil, err
		}
		return out.Attributes, nil
	}
	got, err := read(withDLQ, sqstypes.QueueAttributeNameRedrivePolicy)
	if want := `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":3}`; err != nil || len(got) != 1 || got["RedrivePolicy"] != want {
		t.Errorf("RedrivePolicy = %v, %v; want only %s", got, err, want)
	}
	if got, err := read(plain, sqstypes.QueueAttributeNameRedrivePolicy); err != nil || len(got) != 0 {
		t.Errorf("attributes of a queue without a policy = %v, %v; want none", got, err)
	}
	_, err = read(plain, "DeadLetterQueue")
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidAttributeName" {
		t.Errorf("unknown attribute: %v, want InvalidAttributeName", err)
	}
}

// TestAutoScalingLifecycle checks heartbeats, completion, the heartbeat
// timeout and the errors Auto Scaling returns for finished actions.
func TestAutoScalingLifecycle(t *testing.T) {
	fake, cfg := start(t)
	c := autoscaling.NewFromConfig(cfg)
	ctx := context.Background()
	tok := fake.AutoScaling.Start(awsfake.LifecycleAction{Group: "g", Hook: "h", InstanceID: "i-1", Transition: "autoscaling:EC2_INSTANCE_TERMINATING", HeartbeatTimeout: 400 * time.Millisecond})
	for range 3 {
		time.Sleep(200 * time.Millisecond)
		if _, err := c.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
			AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("h"), LifecycleActionToken: &tok, InstanceId: aws.String("i-1"),
		}); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	if _, err := c.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("h"), InstanceId: aws.String("i-1"), LifecycleActionResult: aws.String("CONTINUE"),
	}); err != nil {
		t.Fatalf("complete by instance id: %v", err)
	}
	act, _ := fake.AutoScaling.Action(tok)
	if act.Result != "CONTINUE" || act.TimedOut || act.Heartbeats != 3 {
		t.Fatalf("action = %+v", act)
	}
	_, err := c.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: aws.String("g"), LifecycleHookName: aws.String("h"), LifecycleActionToken: &tok, LifecycleActionResult: aws.String("CONTINUE"),
	})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationError" {
		t.Fatalf("second completion: %v, want ValidationError", err)
	}
	tok2 := fake.AutoScaling.Start(awsfake.LifecycleAction{Group: "g", Hook: "h", InstanceID: "i-2", HeartbeatTimeout: 50 * time.Millisecond, DefaultResult: "ABANDON"})
	time.Sleep(150 * time.Millisecond)
	if act, _ := fake.AutoScaling.Action(tok2); !act.TimedOut || act.Result != "ABANDON" {
		t.Fatalf("timed-out action = %+v", act)
	}
}

// TestEC2AndS3 checks DescribeInstances and GetObject through the SDK.
func TestEC2AndS3(t *testing.T) {
	fake, cfg := start(t)
	ctx := context.Background()
	fake.EC2.AddInstance(awsfake.Instance{ID: "i-1", PrivateDNSName: "ip-10-0-0-1.ec2.internal", Zone: "us-east-1a", Tags: map[string]string{"team": "a", "lifeboat/managed": ""}})
	out, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-1"}})
	if err != nil {
		t.Fatal(err)
	}
	in := out.Reservations[0].Instances[0]
	if *in.PrivateDnsName != "ip-10-0-0-1.ec2.internal" || len(in.Tags) != 2 || *in.Placement.AvailabilityZone != "us-east-1a" || in.State.Name != "running" {
		t.Fatalf("instance = %+v", in)
	}
	_, err = ec2.NewFromConfig(cfg).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-404"}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidInstanceID.NotFound" {
		t.Fatalf("missing instance: %v", err)
	}
	fake.S3.Put("bucket", "path/kubeconfig", []byte("apiVersion: v1"))
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("path/kubeconfig")})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	b, _ := io.ReadAll(obj.Body)
	if string(b) != "apiVersion: v1" {
		t.Fatalf("object = %q", b)
	}
}
