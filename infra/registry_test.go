package infra_test

import (
	"encoding/json"
	"strings"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/program"
)

// imageDigests reads the stack's imageDigests output (what the release
// runs), by image name.
func imageDigests(t *testing.T, res *mockcloud.Result) map[string]string {
	t.Helper()
	var m map[string]string
	b, _ := json.Marshal(res.Outputs["imageDigests"].Value)
	if err := json.Unmarshal(b, &m); err != nil || len(m) == 0 {
		t.Fatalf("%s: imageDigests = %v (%v)", res.Stack, res.Outputs["imageDigests"].Value, err)
	}
	return m
}

// tagOf is an image's content tag, from its imageName "<repository>:<tag>".
func tagOf(t *testing.T, img mockcloud.Resource) string {
	t.Helper()
	name := img.Str("imageName")
	i := strings.LastIndex(name, ":")
	if i < 0 {
		t.Fatalf("image %s has no tag: %s", img.Name, name)
	}
	return name[i+1:]
}

// A first `pulumi up` meets an empty repository: every image is pushed and
// the stack runs what was pushed.
func TestRegistryPushesATagTheRepositoryLacks(t *testing.T) {
	res := deploy(t, "dev")
	digests := imageDigests(t, res)
	for _, img := range res.ByType("docker:index/image:Image") {
		if img.In("skipPush") != false {
			t.Errorf("image %s: skipPush = %v on an empty repository, want false", img.Name, img.In("skipPush"))
		}
		if got, want := digests[img.Name], mockcloud.Str(img.Out("repoDigest")); got != want {
			t.Errorf("image %s: the stack runs %s, not the pushed %s", img.Name, got, want)
		}
	}
}

// The next `pulumi up` of the same context, from any machine: the
// repository holds the tag (pushed last time), so nothing is pushed and the
// stack runs the digest the repository holds, not whatever pulumi-docker
// reports for an image it did not push. An image whose tag the repository
// lacks is still pushed.
func TestRegistryDoesNotPushAHeldTag(t *testing.T) {
	first := deploy(t, "dev")
	api, ok := first.Find("docker:index/image:Image", "api")
	if !ok {
		t.Fatal("no api image")
	}
	held := "sha256:" + strings.Repeat("ab", 32)
	files := stackFiles(t, "dev")
	cloud := mockcloud.New("slipway", "dev", files.Values["aws:region"])
	// An older image first, then the one the last `up` pushed.
	cloud.Image("api", strings.Repeat("0", 24), "sha256:"+strings.Repeat("1", 64))
	cloud.Image("api", tagOf(t, api), held)
	// proxy's repository holds only another content's tag.
	cloud.Image("proxy", strings.Repeat("f", 24), "sha256:"+strings.Repeat("2", 64))
	res, err := cloud.Run(program.Build, files, false)
	if err != nil {
		t.Fatal(err)
	}
	digests := imageDigests(t, res)
	repo, _ := res.Find("aws:ecr/repository:Repository", "api")
	for _, img := range res.ByType("docker:index/image:Image") {
		switch img.Name {
		case "api":
			if img.In("skipPush") != true {
				t.Errorf("api: skipPush = %v with its tag in the repository, want true", img.In("skipPush"))
			}
			if want := mockcloud.Str(repo.Out("repositoryUrl")) + "@" + held; digests["api"] != want {
				t.Errorf("api: the stack runs %s, want the held %s", digests["api"], want)
			}
		default:
			if img.In("skipPush") != false {
				t.Errorf("%s: skipPush = %v with its tag not in the repository, want false", img.Name, img.In("skipPush"))
			}
			if got, want := digests[img.Name], mockcloud.Str(img.Out("repoDigest")); got != want {
				t.Errorf("%s: the stack runs %s, not the pushed %s", img.Name, got, want)
			}
		}
	}
}

// A revert: the context's content is that of an older image the
// repository still keeps, and a newer image was pushed since. Its tag is
// held although it is not the newest image's, so nothing is pushed onto
// the immutable tag and the stack runs the older image's digest.
func TestRegistryDoesNotPushAnOlderHeldTag(t *testing.T) {
	first := deploy(t, "dev")
	api, ok := first.Find("docker:index/image:Image", "api")
	if !ok {
		t.Fatal("no api image")
	}
	older := "sha256:" + strings.Repeat("cd", 32)
	files := stackFiles(t, "dev")
	cloud := mockcloud.New("slipway", "dev", files.Values["aws:region"])
	cloud.Image("api", tagOf(t, api), older)
	cloud.Image("api", strings.Repeat("9", 24), "sha256:"+strings.Repeat("3", 64)) // newer
	res, err := cloud.Run(program.Build, files, false)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := res.Find("docker:index/image:Image", "api")
	if img.In("skipPush") != true {
		t.Errorf("api: skipPush = %v with its tag held by an older image, want true (ECR refuses a push onto an immutable tag)", img.In("skipPush"))
	}
	repo, _ := res.Find("aws:ecr/repository:Repository", "api")
	if got, want := imageDigests(t, res)["api"], mockcloud.Str(repo.Out("repositoryUrl"))+"@"+older; got != want {
		t.Errorf("api: the stack runs %s, want the older image's %s", got, want)
	}
}
