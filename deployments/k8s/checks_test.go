package k8s_test

import (
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestDecodeIsStrict: a misspelled field anywhere, a duplicate key or a
// kind the manifests do not use is refused, in a real manifest too.
func TestDecodeIsStrict(t *testing.T) {
	data, err := os.ReadFile("kms-deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := documents(data)
	if err != nil || len(docs) != 1 {
		t.Fatalf("documents: %d, %v", len(docs), err)
	}
	if _, err := decode(docs[0]); err != nil {
		t.Fatalf("the real manifest: %v", err)
	}
	for name, doc := range map[string]string{
		"nested unknown field": strings.Replace(string(docs[0]), "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n            readOnlyRootFS: true", 1),
		"misspelled field":     strings.Replace(string(docs[0]), "periodSeconds: 10", "periodSecond: 10", 1),
		"duplicate key":        strings.Replace(string(docs[0]), "replicas: 2", "replicas: 2\n  replicas: 3", 1),
		"wrong type":           strings.Replace(string(docs[0]), "replicas: 2", "replicas: two", 1),
		"unknown kind":         strings.Replace(string(docs[0]), "kind: Deployment", "kind: Deploymint", 1),
		"old apiVersion":       strings.Replace(string(docs[0]), "apiVersion: apps/v1", "apiVersion: apps/v1beta1", 1),
	} {
		if doc == string(docs[0]) {
			t.Fatalf("%s: the mutation did not apply", name)
		}
		if _, err := decode([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

const (
	kms      = "passthru-kms"
	identity = "passthru-identity"
)

// TestChecksCatch breaks the manifests one way at a time and expects the
// check that covers it to say so: every check can fail.
func TestChecksCatch(t *testing.T) {
	clearServiceEnv(t)
	ct := func(m *manifests, d string) *corev1.Container {
		return &m.deployments[d].Spec.Template.Spec.Containers[0]
	}
	vol := func(m *manifests, d, name string) *corev1.Volume {
		return volume(&m.deployments[d].Spec.Template.Spec, name)
	}
	// edit replaces text in a ConfigMap's config or the README, and fails
	// when the text is not there (a mutation that changes nothing proves
	// nothing).
	edit := func(t *testing.T, s *string, old, new string) {
		t.Helper()
		if !strings.Contains(*s, old) {
			t.Fatalf("%q not found", old)
		}
		*s = strings.Replace(*s, old, new, 1)
	}
	cfg := func(t *testing.T, m *manifests, cm, key, old, new string) {
		t.Helper()
		s := m.configMaps[cm].Data[key]
		edit(t, &s, old, new)
		m.configMaps[cm].Data[key] = s
	}
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, m *manifests)
		want   string
	}{
		{"service selector", func(t *testing.T, m *manifests) {
			m.services[kms].Spec.Selector["app.kubernetes.io/name"] = "passthru-kmz"
		}, "Service passthru-kms: selector"},
		{"service targetPort", func(t *testing.T, m *manifests) {
			m.services[kms].Spec.Ports[0].TargetPort = intstr.FromString("http")
		}, "targetPort http is not a port"},
		{"pdb selector", func(t *testing.T, m *manifests) {
			m.pdbs[identity].Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "passthru-kms"
		}, "PodDisruptionBudgets select its pods, want 1"},
		{"pdb selects nothing", func(t *testing.T, m *manifests) {
			m.pdbs[kms].Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "passthru-kmz"
		}, "PodDisruptionBudget passthru-kms: selector app.kubernetes.io/name=passthru-kmz selects the pods of 0 Deployments"},
		{"pdb minAvailable", func(t *testing.T, m *manifests) {
			m.pdbs[kms].Spec.MinAvailable = ptr.To(intstr.FromInt32(2))
		}, "want minAvailable 1"},
		{"one replica", func(t *testing.T, m *manifests) {
			m.deployments[kms].Spec.Replicas = ptr.To[int32](1)
		}, "want at least 2"},
		{"deployment selector", func(t *testing.T, m *manifests) {
			m.deployments[kms].Spec.Selector.MatchLabels["extra"] = "x"
		}, "does not select its own pod labels"},
		{"configMap name", func(t *testing.T, m *manifests) {
			vol(m, kms, "config").ConfigMap.Name = "passthru-kms-cfg"
		}, `no ConfigMap "passthru-kms-cfg"`},
		{"configMap key", func(t *testing.T, m *manifests) {
			vol(m, identity, "config").ConfigMap.Items[0].Key = "identity.yaml"
		}, `ConfigMap passthru-identity-config has no key "identity.yaml"`},
		{"secret name", func(t *testing.T, m *manifests) {
			vol(m, identity, "secrets").Secret.SecretName = "passthru-idp"
		}, `no Secret "passthru-idp"`},
		{"secret key", func(t *testing.T, m *manifests) {
			delete(m.secrets[kms].Data, "unseal-2")
		}, `Secret passthru-kms has no key "unseal-2"`},
		{"secret defaultMode", func(t *testing.T, m *manifests) {
			vol(m, kms, "secrets").Secret.DefaultMode = ptr.To[int32](0o444)
		}, "defaultMode"},
		{"container port", func(t *testing.T, m *manifests) {
			ct(m, kms).Ports[0].ContainerPort = 9999
		}, "want one containerPort 8081"},
		{"listen port", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-identity-config", "identity.yml", "listen: 0.0.0.0:8082", "listen: 0.0.0.0:8083")
		}, "want one containerPort 8083"},
		{"listen on loopback", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-kms-config", "kms.yml", "listen: 0.0.0.0:8081", "listen: 127.0.0.1:8081")
		}, "listen on all interfaces"},
		{"liveness path", func(t *testing.T, m *manifests) {
			ct(m, kms).LivenessProbe.HTTPGet.Path = "/healthz"
		}, "livenessProbe path"},
		{"readiness path", func(t *testing.T, m *manifests) {
			ct(m, identity).ReadinessProbe.HTTPGet.Path = "/livez"
		}, "readinessProbe path"},
		{"readiness scheme", func(t *testing.T, m *manifests) {
			ct(m, identity).ReadinessProbe.HTTPGet.Scheme = corev1.URISchemeHTTP
		}, "readinessProbe scheme"},
		{"probe port", func(t *testing.T, m *manifests) {
			ct(m, kms).StartupProbe.HTTPGet.Port = intstr.FromInt32(9000)
		}, "startupProbe port 9000"},
		{"no readiness probe", func(t *testing.T, m *manifests) {
			ct(m, kms).ReadinessProbe = nil
		}, "no readinessProbe"},
		{"config not mounted", func(t *testing.T, m *manifests) {
			ct(m, kms).VolumeMounts[0].MountPath = "/etc/kms"
		}, "/etc/passthru/kms.yml (the config): no volume is mounted there"},
		{"tls key file not provided", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-kms-config", "kms.yml", "key_file: /run/secrets/passthru/tls.key", "key_file: /run/secrets/passthru/server.key")
		}, "tls.key_file /run/secrets/passthru/server.key: volume secrets (Secret passthru-kms) has no item at server.key"},
		{"dsn file not mounted", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-identity-config", "identity.yml", "dsn_file: /run/secrets/passthru/database-dsn", "dsn_file: /run/passthru/dsn")
		}, "database.dsn_file /run/passthru/dsn: no volume is mounted there"},
		{"client secret item missing", func(t *testing.T, m *manifests) {
			s := vol(m, kms, "secrets").Secret
			s.Items = s.Items[:len(s.Items)-1]
		}, "auth.issuers[0].revocation.clients[0].client_secret_file"},
		{"unseal file on emptyDir", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-kms-config", "kms.yml", "- /run/secrets/passthru/unseal-3", "- /var/lib/passthru/unseal-3")
		}, "unseal.secret_files[2] /var/lib/passthru/unseal-3 is on the emptyDir"},
		{"secret from the ConfigMap", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-kms-config", "kms.yml", "key_file: /run/secrets/passthru/tls.key", "key_file: /etc/passthru/kms.yml")
		}, "tls.key_file /etc/passthru/kms.yml holds a secret but comes from ConfigMap"},
		{"data dir not on emptyDir", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-identity-config", "identity.yml", "data_dir: /var/lib/passthru", "data_dir: /var/lib/identity")
		}, "data_dir /var/lib/identity is not on an emptyDir"},
		{"config invalid for the service", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-kms-config", "kms.yml", "threshold: 2", "threshold: 4")
		}, "kms --check-config: exit 1"},
		{"config invalid for identity", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-identity-config", "identity.yml", "code_ttl: 60s", "code_ttl: 1h")
		}, "identity --check-config: exit 1"},
		{"config unknown key", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-identity-config", "identity.yml", "issuer:", "isuer:")
		}, "decode:"},
		{"secret in env", func(t *testing.T, m *manifests) {
			ct(m, kms).Env = append(ct(m, kms).Env, corev1.EnvVar{Name: "DB", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "database-dsn"}}})
		}, "env DB comes from a Secret"},
		{"secret-like env", func(t *testing.T, m *manifests) {
			ct(m, identity).Env = append(ct(m, identity).Env, corev1.EnvVar{Name: "PG_PASSWORD", Value: "x"})
		}, "env PG_PASSWORD looks like a secret"},
		{"envFrom", func(t *testing.T, m *manifests) {
			ct(m, identity).EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{}}}
		}, "envFrom"},
		{"config override in env", func(t *testing.T, m *manifests) {
			ct(m, kms).Env = append(ct(m, kms).Env, corev1.EnvVar{Name: "PASSTHRU_KMS_LISTEN", Value: "0.0.0.0:9"})
		}, "env PASSTHRU_KMS_LISTEN overrides"},
		{"args", func(t *testing.T, m *manifests) {
			ct(m, kms).Args = []string{"--config", "/tmp/kms.yml"}
		}, "command/args"},
		{"writable root", func(t *testing.T, m *manifests) {
			ct(m, identity).SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
		}, "want readOnlyRootFilesystem"},
		{"root user", func(t *testing.T, m *manifests) {
			m.deployments[kms].Spec.Template.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
		}, "pod securityContext"},
		{"no resources", func(t *testing.T, m *manifests) {
			ct(m, kms).Resources = corev1.ResourceRequirements{}
		}, "resources"},
		{"writable secret mount", func(t *testing.T, m *manifests) {
			ct(m, kms).VolumeMounts[1].ReadOnly = false
		}, "volumeMount secrets: a configMap or secret is mounted readOnly"},
		{"wrong image", func(t *testing.T, m *manifests) {
			ct(m, kms).Image = "passthru/kms:v1"
		}, "no Deployment runs kms"},
		{"kms trusts another issuer", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-kms-config", "kms.yml", "issuer: https://passthru-identity.passthru.svc:8082", "issuer: https://passthru-identity.passthru.svc:8443")
		}, "does not trust Identity's issuer"},
		{"issuer names no service", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-kms-config", "kms.yml", "issuer: https://passthru-identity.passthru.svc:8082", "issuer: https://passthru-idp.passthru.svc:8082")
			cfg(t, m, "passthru-identity-config", "identity.yml", "issuer: https://passthru-identity.passthru.svc:8082", "issuer: https://passthru-idp.passthru.svc:8082")
		}, "names no Service of namespace passthru"},
		{"issuer port", func(t *testing.T, m *manifests) {
			m.services[identity].Spec.Ports[0].Port = 443
		}, "Service passthru-identity has no port 8082"},
		{"no issuer", func(t *testing.T, m *manifests) {
			cfg(t, m, "passthru-identity-config", "identity.yml", "issuer: https://passthru-identity.passthru.svc:8082", "")
		}, "issuer is not set"},
		{"template with a value", func(t *testing.T, m *manifests) {
			m.secrets[identity].Data["tls.key"] = []byte("placeholder")
		}, "key tls.key has a value"},
		{"readme command misses a key", func(t *testing.T, m *manifests) {
			edit(t, &m.readme, "  --from-file=unseal-3=identity/unseal-3 \\\n", "")
		}, "the command for Secret passthru-identity creates keys"},
		{"readme command namespace", func(t *testing.T, m *manifests) {
			edit(t, &m.readme, "kubectl -n passthru create secret generic passthru-kms", "kubectl -n default create secret generic passthru-kms")
		}, "in namespace default"},
		{"readme sslrootcert", func(t *testing.T, m *manifests) {
			edit(t, &m.readme, "sslrootcert=/run/secrets/passthru/postgres-ca.crt", "sslrootcert=/run/secrets/passthru/pg-ca.crt")
		}, "sslrootcert /run/secrets/passthru/pg-ca.crt"},
		{"kustomization applies a template", func(t *testing.T, m *manifests) {
			m.kust.Resources = append(m.kust.Resources, "secrets/kms-secret.yaml")
		}, "is a Secret template"},
		{"kustomization misses a manifest", func(t *testing.T, m *manifests) {
			m.kust.Resources = m.kust.Resources[1:]
		}, "is not in resources"},
		{"mixed namespaces", func(t *testing.T, m *manifests) {
			m.namespaces["default"] = []string{"Service/x"}
		}, "want all in one named namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := load(".")
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(t, m)
			errs := m.check()
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					t.Log(err)
					return
				}
			}
			t.Errorf("no error contains %q; got %v", tc.want, errs)
		})
	}
}
