// Package k8s holds the Kubernetes manifests of Passthru (a Deployment,
// Service, ConfigMap, Secret shape and PodDisruptionBudget for each of the
// KMS and Identity, on an external PostgreSQL) and the test that decodes
// them strictly with the Kubernetes API types and checks that they fit
// together and that each service accepts its ConfigMap's configuration.
package k8s
