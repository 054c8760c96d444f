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

// wantPushed: img was pushed, and the stack runs what the push reported.
func wantPushed(t *testing.T, digests map[string]string, img mockcloud.Resource, why string) {
	t.Helper()
	if img.In("skipPush") != false {
		t.Errorf("image %s: skipPush = %v %s, want false", img.Name, img.In("skipPush"), why)
	}
	if got, want := digests[img.Name], mockcloud.Str(img.Out("repoDigest")); got != want {
		t.Errorf("image %s: the stack runs %s, not the pushed %s", img.Name, got, want)
	}
}

// wantHeld: nothing was pushed for image (ECR refuses a push onto an
// existing immutable tag), and the stack runs the digest the repository
// holds under its tag, not whatever pulumi-docker reports for an image it
// did not push.
func wantHeld(t *testing.T, res *mockcloud.Result, digests map[string]string, image, digest, why string) {
	t.Helper()
	img, ok := res.Find("docker:index/image:Image", image)
	if !ok {
		t.Fatalf("no %s image", image)
	}
	if img.In("skipPush") != true {
		t.Errorf("%s: skipPush = %v %s, want true", image, img.In("skipPush"), why)
	}
	repo, _ := res.Find("aws:ecr/repository:Repository", image)
	if want := mockcloud.Str(repo.Out("repositoryUrl")) + "@" + digest; digests[image] != want {
		t.Errorf("%s: the stack runs %s, want the held %s", image, digests[image], want)
	}
}

// deployHolding deploys dev against an ECR whose repositories already
// hold images, pushed in the order given; held gets the api image's
// content tag (what this checkout builds) to place among them.
func deployHolding(t *testing.T, held func(cloud *mockcloud.Cloud, apiTag string)) *mockcloud.Result {
	t.Helper()
	api, ok := deploy(t, "dev").Find("docker:index/image:Image", "api")
	if !ok {
		t.Fatal("no api image")
	}
	files := stackFiles(t, "dev")
	cloud := mockcloud.New("slipway", "dev", files.Values["aws:region"])
	held(cloud, tagOf(t, api))
	res, err := cloud.Run(program.Build, files, false)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A first `pulumi up` meets an empty repository: every image is pushed and
// the stack runs what was pushed.
func TestRegistryPushesATagTheRepositoryLacks(t *testing.T) {
	res := deploy(t, "dev")
	digests := imageDigests(t, res)
	for _, img := range res.ByType("docker:index/image:Image") {
		wantPushed(t, digests, img, "on an empty repository")
	}
}

// The next `pulumi up` of the same context, from any machine: the
// repository holds the tag (pushed last time), so nothing is pushed and the
// stack runs the digest the repository holds. An image whose tag the
// repository lacks is still pushed.
func TestRegistryDoesNotPushAHeldTag(t *testing.T) {
	held := "sha256:" + strings.Repeat("ab", 32)
	res := deployHolding(t, func(cloud *mockcloud.Cloud, apiTag string) {
		// An older image first, then the one the last `up` pushed.
		cloud.Image("api", strings.Repeat("0", 24), "sha256:"+strings.Repeat("1", 64))
		cloud.Image("api", apiTag, held)
		// proxy's repository holds only another content's tag.
		cloud.Image("proxy", strings.Repeat("f", 24), "sha256:"+strings.Repeat("2", 64))
	})
	digests := imageDigests(t, res)
	wantHeld(t, res, digests, "api", held, "with its tag in the repository")
	for _, img := range res.ByType("docker:index/image:Image") {
		if img.Name != "api" {
			wantPushed(t, digests, img, "with its tag not in the repository")
		}
	}
}

// A revert: the context's content is that of an older image the
// repository still keeps, and a newer image was pushed since. Its tag is
// held although it is not the newest image's, so nothing is pushed onto
// the immutable tag and the stack runs the older image's digest.
func TestRegistryDoesNotPushAnOlderHeldTag(t *testing.T) {
	older := "sha256:" + strings.Repeat("cd", 32)
	res := deployHolding(t, func(cloud *mockcloud.Cloud, apiTag string) {
		cloud.Image("api", apiTag, older)
		cloud.Image("api", strings.Repeat("9", 24), "sha256:"+strings.Repeat("3", 64)) // newer
	})
	wantHeld(t, res, imageDigests(t, res), "api", older, "with its tag held by an older image")
}
