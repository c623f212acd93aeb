// Package chart tests the Helm chart deploy/helm/indexsync offline: helm lint,
// rendering as `helm template` does, every rendered object validated against
// the Kubernetes JSON schemas (kubernetes-validate, from PyPI; make chart-test
// installs it into a cache and sets KUBERNETES_VALIDATE), and what matters
// checked on the objects: secrets only by reference, non-root pods, the shard
// arithmetic, the probes, --resume auto, settings that are real flags. It also
// keeps deploy/kubernetes, the chart rendered for kubectl, up to date
// (go test ./chart -run TestKubernetesManifests -update rewrites it).
package chart

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes from the chart")

const (
	chartDir     = "../../deploy/helm/indexsync"
	sunbirdFile  = chartDir + "/ci/sunbird-values.yaml"
	manifestsDir = "../../deploy/kubernetes"
	// The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and
	// the newest kubernetes-validate has schemas for.
	oldestKube = "1.29.0"
	newestKube = "1.37.0"
)

// values reads a values file (if any) and applies --set style overrides.
func values(t *testing.T, file string, sets ...string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if file != "" {
		v, err := chartutil.ReadValuesFile(file)
		if err != nil {
			t.Fatal(err)
		}
		vals = v
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			t.Fatal(err)
		}
	}
	return vals
}

// render does what `helm template <release> deploy/helm/indexsync -n <ns>`
// does and returns the manifest.
func render(vals map[string]any, release, namespace string) (string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return "", err
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = release
	install.Namespace = namespace
	kv, err := chartutil.ParseKubeVersion(oldestKube)
	if err != nil {
		return "", err
	}
	install.KubeVersion = kv
	rel, err := install.Run(ch, vals)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

// object is one rendered object: its kind, name, source template and YAML.
type object struct {
	Kind, Name, Source string
	YAML               []byte
}

func split(t *testing.T, manifest string) []object {
	t.Helper()
	var out []object
	for doc := range strings.SplitSeq(manifest, "\n---\n") {
		doc = strings.TrimPrefix(strings.TrimSpace(doc), "---\n")
		if doc == "" {
			continue
		}
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		src := ""
		if m := regexp.MustCompile(`(?m)^# Source: (\S+)`).FindStringSubmatch(doc); m != nil {
			src = m[1]
		}
		out = append(out, object{Kind: meta.Kind, Name: meta.Metadata.Name, Source: src, YAML: []byte(doc)})
	}
	return out
}

func decode[T any](t *testing.T, o object) *T {
	t.Helper()
	v := new(T)
	if err := yaml.UnmarshalStrict(o.YAML, v); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Name, err)
	}
	return v
}

func TestLint(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(oldestKube)
	if err != nil {
		t.Fatal(err)
	}
	for name, vals := range map[string]map[string]any{
		"default": values(t, ""),
		"sunbird": values(t, sunbirdFile),
	} {
		t.Run(name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = "sunbird"
			lint.KubeVersion = kv
			res := lint.Run([]string{chartDir}, vals)
			for _, m := range res.Messages {
				t.Log(m.Error())
			}
			if len(res.Errors) > 0 {
				t.Errorf("helm lint --strict: %v", res.Errors)
			}
		})
	}
}

// TestRender renders the chart with the default values, the Sunbird values
// file and variants, validates every object against the Kubernetes schemas
// and checks what the chart promises.
func TestRender(t *testing.T) {
	cases := []struct {
		name   string
		vals   map[string]any
		kinds  []string
		shards int
	}{
		{"default", values(t, ""),
			[]string{"CronJob", "Deployment", "PersistentVolumeClaim", "PodDisruptionBudget", "Service", "ServiceAccount"}, 0},
		{"sunbird", values(t, sunbirdFile),
			[]string{"CronJob", "Deployment", "Job", "PersistentVolumeClaim", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"}, 8},
		{"default with the sync of 3 shards, more parallelism than shards", values(t, "", "sync.enabled=true", "sync.shards=3", "sync.parallelism=10"),
			[]string{"CronJob", "Deployment", "Job", "PersistentVolumeClaim", "PodDisruptionBudget", "Service", "ServiceAccount"}, 3},
		{"no persistence, no serve", values(t, "", "persistence.enabled=false", "serve.enabled=false", "sync.enabled=true", "sync.shards=1"),
			[]string{"CronJob", "Job", "ServiceAccount"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			manifest, err := render(c.vals, "indexsync", "sunbird")
			if err != nil {
				t.Fatal(err)
			}
			objs := split(t, manifest)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.Kind)
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, c.kinds) {
				t.Errorf("kinds %q, want %q", kinds, c.kinds)
			}
			validate(t, manifest)
			check(t, objs, c.shards)
		})
	}
}

// TestSecretInValuesRefused: a password given as a setting stops the render
// and is never printed.
func TestSecretInValuesRefused(t *testing.T) {
	for _, set := range []string{
		"settings.cassandra-password=hunter2",
		"serve.settings.api-keys=hunter2",
		"sync.settings.api-key=hunter2",
		"verify.settings.search-password=hunter2",
	} {
		_, err := render(values(t, "", set, "sync.enabled=true"), "indexsync", "sunbird")
		if err == nil || !strings.Contains(err.Error(), "a secret does not belong in values") {
			t.Errorf("--set %s: err %v, want the render refused", set, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("--set %s: the error shows the secret: %v", set, err)
		}
	}
}

// validate runs kubernetes-validate --strict over the manifest for the oldest
// and the newest Kubernetes version.
func validate(t *testing.T, manifest string) {
	t.Helper()
	kv := os.Getenv("KUBERNETES_VALIDATE")
	if kv == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: KUBERNETES_VALIDATE is not set (make chart-test installs kubernetes-validate and sets it)")
		}
		t.Log("KUBERNETES_VALIDATE not set: schema validation skipped (make chart-test runs it)")
		return
	}
	file := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{oldestKube, newestKube} {
		out, err := exec.Command(kv, "--strict", "-k", version, file).CombinedOutput()
		if err != nil {
			t.Errorf("kubernetes-validate --strict -k %s: %v\n%s", version, err, out)
			continue
		}
		var passed []string
		for line := range strings.Lines(string(out)) {
			if _, res, ok := strings.Cut(line, " passed for resource "); ok {
				passed = append(passed, strings.Fields(res)[0])
				continue
			}
			// The ServiceMonitor is a CRD: no schema; check() covers it.
			if !strings.Contains(line, "kind ServiceMonitor") {
				t.Errorf("kubernetes-validate: %s", line)
			}
		}
		t.Logf("kubernetes-validate --strict -k %s: %d objects passed: %s", version, len(passed), strings.Join(passed, " "))
	}
}

// isSecretEnv: the env variables of secret flags.
func isSecretEnv(name string) bool {
	return strings.HasSuffix(name, "_PASSWORD") || name == "INDEXSYNC_API_KEY" || name == "INDEXSYNC_API_KEYS"
}

// check asserts what the chart promises on the rendered objects.
func check(t *testing.T, objs []object, shards int) {
	t.Helper()
	var pods []struct {
		what string
		spec corev1.PodSpec
	}
	var deployment *appsv1.Deployment
	var service *corev1.Service
	var pdb *policyv1.PodDisruptionBudget
	for _, o := range objs {
		if o.Kind == "Secret" || o.Kind == "ConfigMap" {
			t.Errorf("the chart renders a %s (%s): settings are env vars, secrets are referenced", o.Kind, o.Name)
		}
		switch o.Kind {
		case "Deployment":
			deployment = decode[appsv1.Deployment](t, o)
			pods = append(pods, struct {
				what string
				spec corev1.PodSpec
			}{"Deployment " + o.Name, deployment.Spec.Template.Spec})
		case "Service":
			service = decode[corev1.Service](t, o)
		case "Job":
			job := decode[batchv1.Job](t, o)
			pods = append(pods, struct {
				what string
				spec corev1.PodSpec
			}{"Job " + o.Name, job.Spec.Template.Spec})
			checkJob(t, job, shards)
		case "CronJob":
			cron := decode[batchv1.CronJob](t, o)
			pods = append(pods, struct {
				what string
				spec corev1.PodSpec
			}{"CronJob " + o.Name, cron.Spec.JobTemplate.Spec.Template.Spec})
			if cron.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				t.Errorf("CronJob concurrencyPolicy %q, want Forbid", cron.Spec.ConcurrencyPolicy)
			}
			args := cron.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
			if len(args) < 2 || args[0] != "verify" || !slices.Contains(args, "--repair") {
				t.Errorf("CronJob args %q, want verify --repair", args)
			}
		case "PodDisruptionBudget":
			pdb = decode[policyv1.PodDisruptionBudget](t, o)
		case "ServiceMonitor":
			if !bytes.Contains(o.YAML, []byte("path: /metrics")) || !bytes.Contains(o.YAML, []byte("port: admin")) {
				t.Errorf("ServiceMonitor does not scrape port admin /metrics:\n%s", o.YAML)
			}
		}
	}
	if shards > 0 && !slices.ContainsFunc(objs, func(o object) bool { return o.Kind == "Job" }) {
		t.Errorf("no Job rendered")
	}
	if deployment != nil {
		checkServe(t, deployment, service)
		if pdb == nil || !selects(pdb.Spec.Selector.MatchLabels, deployment.Spec.Template.Labels) {
			t.Errorf("no PodDisruptionBudget selects serve's pods")
		}
	}
	for _, p := range pods {
		checkPod(t, p.what, p.spec)
	}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func checkServe(t *testing.T, d *appsv1.Deployment, svc *corev1.Service) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("Deployment args %q, want serve", c.Args)
	}
	if len(c.Ports) != 2 || c.Ports[0].Name != "http" || c.Ports[1].Name != "admin" {
		t.Fatalf("Deployment ports %+v, want http and admin", c.Ports)
	}
	// the admin address (/metrics, /health detail) is on the pod's loopback
	// unless Prometheus scrapes it through the ServiceMonitor
	admin := c.Ports[1].ContainerPort
	onPod := slices.Contains(c.Args, fmt.Sprintf("--admin-listen=:%d", admin))
	onLoopback := slices.Contains(c.Args, fmt.Sprintf("--admin-listen=127.0.0.1:%d", admin))
	servicePorts := map[string]bool{}
	if svc != nil {
		for _, p := range svc.Spec.Ports {
			servicePorts[p.Name] = true
		}
	}
	if onPod == onLoopback || onPod != servicePorts["admin"] {
		t.Errorf("serve args %q, Service ports %v: want --admin-listen on the pod's loopback, or on its address with a Service port admin (ServiceMonitor)", c.Args, servicePorts)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health" || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v, want GET /health on port http", name, p)
		}
	}
	if !slices.Contains(c.Args, fmt.Sprintf("--listen=:%d", c.Ports[0].ContainerPort)) {
		t.Errorf("serve listens (%q) elsewhere than its port %d", c.Args, c.Ports[0].ContainerPort)
	}
	if svc == nil {
		t.Fatal("no Service for serve")
	}
	if !selects(svc.Spec.Selector, d.Spec.Template.Labels) || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("the Service does not reach serve's pods on port http: %+v", svc.Spec)
	}
}

var shardArg = regexp.MustCompile(`^--shard=\$\(JOB_COMPLETION_INDEX\)/(\d+)$`)

func checkJob(t *testing.T, job *batchv1.Job, shards int) {
	t.Helper()
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("Job completionMode %v, want Indexed", s.CompletionMode)
	}
	c := s.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Errorf("Job args %q, want run", c.Args)
	}
	if len(s.Template.Spec.Containers) != 1 || len(c.Command) != 0 {
		t.Errorf("the Job runs %q %q: want the image's entrypoint (the binary, no shell)", c.Command, c.Args)
	}
	n := -1
	for _, a := range c.Args {
		if m := shardArg.FindStringSubmatch(a); m != nil {
			fmt.Sscan(m[1], &n)
		}
	}
	if s.Completions == nil || n != int(*s.Completions) || n != shards {
		t.Errorf("--shard …/%d, completions %v, want both %d: slices would be missed or repeated", n, s.Completions, shards)
	}
	if s.Parallelism == nil || *s.Parallelism > *s.Completions || *s.Parallelism < 1 {
		t.Errorf("parallelism %v with %v completions", s.Parallelism, s.Completions)
	}
	if !slices.Contains(c.Args, "--resume=auto") {
		t.Errorf("Job args %q lack --resume=auto: a restarted pod would start its shard afresh", c.Args)
	}
	stateDir := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--state-dir="); ok {
			stateDir = v
		}
	}
	if !strings.HasPrefix(stateDir, "/state/") || !strings.Contains(stateDir, "$(JOB_COMPLETION_INDEX)") {
		t.Errorf("--state-dir %q: want a directory per shard on the state volume", stateDir)
	}
	if s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever || s.PodFailurePolicy == nil {
		t.Errorf("restartPolicy %q, podFailurePolicy %v: want Never and a policy for exit codes 1 and 2", s.Template.Spec.RestartPolicy, s.PodFailurePolicy)
	}
}

func checkPod(t *testing.T, what string, p corev1.PodSpec) {
	t.Helper()
	sc := p.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and a non-zero runAsUser", what, sc)
	}
	if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token; indexsync does not use the API", what)
	}
	if len(p.Containers) != 1 {
		t.Fatalf("%s: %d containers", what, len(p.Containers))
	}
	c := p.Containers[0]
	csc := c.SecurityContext
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: container securityContext %+v, want no privilege escalation, a read-only root, all capabilities dropped", what, csc)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: no memory request or limit", what)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/state" }) {
		t.Errorf("%s: no volume at /state", what)
	}
	for _, a := range c.Args {
		if strings.Contains(a, "password") || strings.Contains(a, "api-key") {
			t.Errorf("%s: a secret on the command line: %q", what, a)
		}
	}
	flags := commandFlags(t, c.Args[0])
	for _, e := range c.Env {
		if isSecretEnv(e.Name) {
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "" {
				t.Errorf("%s: %s must come from a secretKeyRef, not a value", what, e.Name)
			}
		}
		flag, ok := strings.CutPrefix(e.Name, "INDEXSYNC_")
		if !ok {
			continue
		}
		flag = strings.ReplaceAll(strings.ToLower(flag), "_", "-")
		if !flags[flag] {
			t.Errorf("%s: %s names no flag of indexsync %s (is it a typo?)", what, e.Name, c.Args[0])
		}
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// commandFlags lists the flags of `indexsync <command>`, from its --help.
func commandFlags(t *testing.T, command string) map[string]bool {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "indexsync-chart-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "indexsync")
		// The image test's build flags (ociimage/image_test.go), so the two
		// share the compiled packages and differ only in the link.
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, "./cmd/indexsync")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	out, err := exec.Command(binPath, command, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("indexsync %s --help: %v\n%s", command, err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 10 {
		t.Fatalf("indexsync %s --help: found only the flags %v", command, flags)
	}
	return flags
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestKubernetesManifests: deploy/kubernetes holds the chart rendered with
// deploy/kubernetes/values.yaml, for those who apply manifests with kubectl:
// indexsync.yaml (serve and the nightly verify) and sync-job.yaml (the
// Indexed Job). -update rewrites them (make manifests).
func TestKubernetesManifests(t *testing.T) {
	vals := values(t, filepath.Join(manifestsDir, "values.yaml"))
	manifest, err := render(vals, "indexsync", "")
	if err != nil {
		t.Fatal(err)
	}
	header := "# Generated by `make manifests` from the Helm chart deploy/helm/indexsync with\n" +
		"# deploy/kubernetes/values.yaml (the chart's default values otherwise). Do not edit:\n" +
		"# change the values or the chart and run make manifests.\n"
	var main, job strings.Builder
	main.WriteString(header + "#\n# Serve (the Sync API) and the nightly verify --repair:\n" +
		"#   kubectl -n sunbird create secret generic indexsync --from-literal=api-key=$(openssl rand -hex 32)\n" +
		"#   kubectl -n sunbird apply -f indexsync.yaml\n")
	job.WriteString(header + "#\n# The full sync as an Indexed Job (after indexsync.yaml, whose volume it uses):\n" +
		"#   kubectl -n sunbird apply -f sync-job.yaml\n")
	for _, o := range split(t, manifest) {
		w := &main
		if o.Kind == "Job" {
			w = &job
		}
		w.WriteString("---\n")
		w.Write(o.YAML)
		w.WriteString("\n")
	}
	validate(t, main.String()+job.String())
	for name, want := range map[string]string{"indexsync.yaml": main.String(), "sync-job.yaml": job.String()} {
		path := filepath.Join(manifestsDir, name)
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s is not the chart's rendering: run make manifests", path)
		}
	}
}
