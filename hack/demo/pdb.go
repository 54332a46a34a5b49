//go:build linux

package main

import (
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func intOrString(i int32) intstr.IntOrString { return intstr.FromInt32(i) }

func asPDB(v any) *policyv1.PodDisruptionBudget { return v.(*policyv1.PodDisruptionBudget) }
