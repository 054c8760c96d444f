package mockcloud

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The offline ECR holds two kinds of images: those a test says an earlier
// `pulumi up` pushed (Cloud.Image; none by default, so every tag is new),
// and those this run pushes (a recorded docker Image whose skipPush is not
// true). It answers the registry's lookup as ECR does: getImage with a
// tag's digest, or ImageNotFoundException when the repository does not
// hold it.

// heldImage is one image in a repository, by the repository's logical name.
type heldImage struct{ repository, tag, digest string }

// Image says the repository the program names repository ("api") already
// holds an image tagged tag with digest ("sha256:<64 hex>"). Images are
// pushed in the order of the calls, before anything the run pushes.
func (c *Cloud) Image(repository, tag, digest string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.images = append(c.images, heldImage{repository, tag, digest})
}

// ecrInvoke answers the ECR image lookup; ok is false for other tokens.
func (c *Cloud) ecrInvoke(token string, args resource.PropertyMap) (out resource.PropertyMap, ok bool, err error) {
	str := func(k string) string {
		if v, ok := args[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	switch token {
	case "aws:ecr/getImage:getImage":
		tag := str("imageTag")
		if tag == "" {
			return nil, true, fmt.Errorf("mockcloud: getImage answers lookups by imageTag only")
		}
		repo, found := c.repository(str("repositoryName"))
		if !found {
			return nil, true, fmt.Errorf("RepositoryNotFoundException: The repository with name '%s' does not exist in the registry with id '%s'", str("repositoryName"), Account)
		}
		for _, img := range c.held(repo) {
			if img.tag == tag {
				return props(map[string]any{
					"id": img.digest, "imageDigest": img.digest, "imageTag": tag, "imageTags": []any{tag},
					"imageUri":   fmt.Sprintf("%s@%s", repo.Out("repositoryUrl"), img.digest),
					"registryId": Account, "repositoryName": repo.Out("name"),
				}), true, nil
			}
		}
		return nil, true, fmt.Errorf("ImageNotFoundException: The image with imageId {imageDigest:'null', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'", tag, str("repositoryName"), Account)
	}
	return nil, false, nil
}

// repository finds a recorded ECR repository by its physical name.
func (c *Cloud) repository(name string) (Resource, bool) {
	for _, r := range c.Resources() {
		if r.Type == "aws:ecr/repository:Repository" && Str(r.Out("name")) == name {
			return r, true
		}
	}
	return Resource{}, false
}

// held lists a repository's images in push order: the test's, then those
// the recorded docker Images pushed ("<repositoryUrl>:<tag>", skipPush not
// true), with the digest of their repoDigest.
func (c *Cloud) held(repo Resource) []heldImage {
	c.mu.Lock()
	var images []heldImage
	for _, img := range c.images {
		if img.repository == repo.Name {
			images = append(images, img)
		}
	}
	c.mu.Unlock()
	url := Str(repo.Out("repositoryUrl"))
	for _, r := range c.Resources() {
		if r.Type != "docker:index/image:Image" || r.In("skipPush") == true {
			continue
		}
		tag, ok := strings.CutPrefix(r.Str("imageName"), url+":")
		_, digest, pushed := strings.Cut(Str(r.Out("repoDigest")), "@")
		if ok && pushed {
			images = append(images, heldImage{repo.Name, tag, digest})
		}
	}
	return images
}
