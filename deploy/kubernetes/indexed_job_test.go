// Package kubernetes holds the Kubernetes manifests and tests that parse them.
package kubernetes

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type job struct {
	Kind string `yaml:"kind"`
	Spec struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Parallelism    int    `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				Containers []struct {
					Command []string `yaml:"command"`
					Args    []string `yaml:"args"`
					Env     []struct {
						Name      string         `yaml:"name"`
						Value     string         `yaml:"value"`
						ValueFrom map[string]any `yaml:"valueFrom"`
					} `yaml:"env"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestIndexedJob(t *testing.T) {
	data, err := os.ReadFile("run-indexed-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var j job
	if err := yaml.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	if j.Kind != "Job" || j.Spec.CompletionMode != "Indexed" {
		t.Fatalf("kind %q completionMode %q, want an Indexed Job", j.Kind, j.Spec.CompletionMode)
	}
	c := j.Spec.Template.Spec.Containers[0]
	script := strings.Join(c.Args, " ")
	m := regexp.MustCompile(`--shard \$JOB_COMPLETION_INDEX/(\d+)`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("the command does not shard by the completion index: %s", script)
	}
	n, _ := strconv.Atoi(m[1])
	if n != j.Spec.Completions || n != j.Spec.Parallelism {
		t.Errorf("--shard …/%d but completions %d, parallelism %d: slices would be missed or repeated", n, j.Spec.Completions, j.Spec.Parallelism)
	}
	for _, want := range []string{"indexsync run", "--state-dir /state/shard-$JOB_COMPLETION_INDEX", "--resume"} {
		if !strings.Contains(script, want) {
			t.Errorf("command lacks %q", want)
		}
	}
	for _, e := range c.Env {
		if strings.Contains(e.Name, "PASSWORD") || strings.Contains(e.Name, "KEY") {
			if e.Value != "" || e.ValueFrom["secretKeyRef"] == nil {
				t.Errorf("%s must come from a Secret, not inline", e.Name)
			}
		}
	}
	if strings.Contains(script, "password") || strings.Contains(script, "api-key ") {
		t.Errorf("a secret is passed on the command line: %s", script)
	}
}
