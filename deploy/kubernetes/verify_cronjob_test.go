package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// manifest is what the tests read of any object in a manifest file.
type manifest struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Schedule          string `yaml:"schedule"`
		ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
		JobTemplate       struct {
			Spec struct {
				Template struct {
					Spec struct {
						RestartPolicy string      `yaml:"restartPolicy"`
						Containers    []container `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type container struct {
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
		SecretRef    *struct{ Name string } `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
}

// readManifests parses every document of a multi-document YAML file.
func readManifests(t *testing.T, path string) []manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []manifest
	for {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
}

// isSecretName: INDEXSYNC_*_PASSWORD and INDEXSYNC_API_KEY (not KEYSPACE).
func isSecretName(name string) bool {
	return strings.Contains(name, "PASSWORD") || strings.HasSuffix(name, "_KEY")
}

func TestVerifyCronJob(t *testing.T) {
	docs := readManifests(t, "verify-cronjob.yaml")
	var cron, cm *manifest
	for i := range docs {
		switch docs[i].Kind {
		case "CronJob":
			cron = &docs[i]
		case "ConfigMap":
			cm = &docs[i]
		}
	}
	if cron == nil || cm == nil {
		t.Fatalf("want a CronJob and a ConfigMap, got %d documents", len(docs))
	}
	if f := strings.Fields(cron.Spec.Schedule); len(f) != 5 || f[0] == "*" || f[1] == "*" || f[2] != "*" {
		t.Errorf("schedule %q: want a fixed minute and hour every day (nightly)", cron.Spec.Schedule)
	}
	if cron.Spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("concurrencyPolicy %q: want Forbid (two repairs must not overlap)", cron.Spec.ConcurrencyPolicy)
	}
	pod := cron.Spec.JobTemplate.Spec.Template.Spec
	if pod.RestartPolicy != "Never" && pod.RestartPolicy != "OnFailure" {
		t.Errorf("restartPolicy %q", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	cmd := append(slices.Clone(c.Command), c.Args...)
	if len(cmd) < 2 || cmd[0] != "indexsync" || cmd[1] != "verify" || !slices.Contains(cmd, "--repair") {
		t.Errorf("command %q: want indexsync verify --repair", cmd)
	}
	if !strings.HasPrefix(c.Image, "indexsync:") {
		t.Errorf("image %q", c.Image)
	}

	// Secrets come from a Secret, never inline: not in the env values, not
	// in the ConfigMap, not on the command line.
	secrets := map[string]bool{}
	for _, e := range c.Env {
		if !isSecretName(e.Name) {
			continue
		}
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "" {
			t.Errorf("%s must come from a secretKeyRef, not inline", e.Name)
		}
		secrets[e.Name] = true
	}
	for _, want := range []string{"INDEXSYNC_CASSANDRA_PASSWORD", "INDEXSYNC_SEARCH_PASSWORD"} {
		if !secrets[want] {
			t.Errorf("%s is not set from the Secret", want)
		}
	}
	for k := range cm.Data {
		if isSecretName(k) {
			t.Errorf("ConfigMap %s holds %s: a secret belongs in the Secret", cm.Metadata.Name, k)
		}
	}
	for _, a := range cmd {
		if strings.Contains(a, "password") || strings.Contains(a, "api-key") {
			t.Errorf("a secret is passed on the command line: %q", a)
		}
	}
	fromCM := false
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == cm.Metadata.Name {
			fromCM = true
		}
	}
	if !fromCM {
		t.Errorf("the container does not take its settings from ConfigMap %s", cm.Metadata.Name)
	}
	for _, want := range []string{"INDEXSYNC_CASSANDRA_HOSTS", "INDEXSYNC_SEARCH_URL"} {
		if cm.Data[want] == "" {
			t.Errorf("ConfigMap lacks %s", want)
		}
	}
}
