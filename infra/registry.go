package infra

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Images are the images a stack builds, by name: each has a build context
// app/<name> and its own ECR repository. The worker runs the api image.
var Images = []string{"api", "proxy", "db"}

// RegistryArgs shapes the stack's ECR repositories and image builds.
type RegistryArgs struct {
	// Contexts maps an image name to its build context directory.
	Contexts map[string]string
	// Architecture is the host's ("arm64" or "x86_64"); images are built
	// for it.
	Architecture string
	// KeepTagged is how many tagged images each repository keeps.
	KeepTagged int
	// ForceDelete lets a review stack's destroy delete repositories that
	// still hold images. Never for dev or prod.
	ForceDelete bool
}

// Registry is the stack's ECR repositories and the images built into them.
type Registry struct {
	pulumi.ResourceState

	// Digests are by image name, "<repository>@sha256:...": deployments
	// use them, never a tag.
	Digests map[string]pulumi.StringOutput
	// PullGrants let the host pull these images and nothing else.
	PullGrants []Grant
}

// lifecyclePolicy keeps the newest keep tagged images (rollback targets)
// and drops untagged ones (layers of interrupted pushes) after a day.
func lifecyclePolicy(keep int) (string, error) {
	type selection struct {
		TagStatus      string   `json:"tagStatus"`
		TagPatternList []string `json:"tagPatternList,omitempty"`
		CountType      string   `json:"countType"`
		CountUnit      string   `json:"countUnit,omitempty"`
		CountNumber    int      `json:"countNumber"`
	}
	type rule struct {
		RulePriority int               `json:"rulePriority"`
		Description  string            `json:"description"`
		Selection    selection         `json:"selection"`
		Action       map[string]string `json:"action"`
	}
	doc := map[string][]rule{"rules": {
		{1, "Expire untagged images after a day",
			selection{TagStatus: "untagged", CountType: "sinceImagePushed", CountUnit: "days", CountNumber: 1},
			map[string]string{"type": "expire"}},
		{2, fmt.Sprintf("Keep the last %d tagged images", keep),
			selection{TagStatus: "tagged", TagPatternList: []string{"*"}, CountType: "imageCountMoreThan", CountNumber: keep},
			map[string]string{"type": "expire"}},
	}}
	b, err := json.Marshal(doc)
	return string(b), err
}

// platformOf maps the host architecture to a Docker platform.
func platformOf(architecture string) (string, error) {
	switch architecture {
	case "arm64":
		return "linux/arm64", nil
	case "x86_64":
		return "linux/amd64", nil
	}
	return "", fmt.Errorf("no Docker platform for host architecture %q", architecture)
}

// stablePath makes a build context relative to the working directory
// (Pulumi runs the program in the project directory, so it becomes
// "app/api"). The path is an input of the image: an absolute one would
// differ between a laptop and a CI runner and make pulumi-docker rebuild
// unchanged content, whose push onto its existing immutable tag would fail.
func stablePath(dir string) string {
	wd, err := os.Getwd()
	if err != nil || !filepath.IsAbs(dir) {
		return dir
	}
	if rel, err := filepath.Rel(wd, dir); err == nil {
		return rel
	}
	return dir
}

// holdsTag says whether the repository holds an image under tag, by
// ecr.getImage (through the provider, so its region, credentials and
// allowed accounts apply). It is the plain form of the invoke, called in an
// apply of the repository's name, on purpose: the Output form turns the
// lookup's failure into the program's, and a missing tag is an answer
// here, not a failure: pulumi-aws v6 has no invoke that lists a
// repository's tags (ecr.getImages arrives with v7). The provider reports
// a missing tag as ECR's ImageNotFoundException (wrapped in its "reading
// ECR Images" error); older provider versions said "Your query returned
// no results". Any other error (no access, throttling) fails the update:
// guessing "not held" would push onto an immutable tag, guessing "held"
// would deploy a digest that may not exist.
func holdsTag(ctx *pulumi.Context, repository, tag string, opts ...pulumi.InvokeOption) (bool, error) {
	_, err := ecr.GetImage(ctx, &ecr.GetImageArgs{RepositoryName: repository, ImageTag: &tag}, opts...)
	switch {
	case err == nil:
		return true, nil
	case strings.Contains(err.Error(), "ImageNotFoundException"), strings.Contains(err.Error(), "Your query returned no results"):
		return false, nil
	}
	return false, fmt.Errorf("looking up tag %s in ECR repository %s: %w", tag, repository, err)
}

// NewRegistry creates one repository per image and builds and pushes the
// images. The image tags are derived from the build contexts, so an
// unchanged app/<name> keeps its tag, is not pushed again from any machine
// and keeps its digest.
func NewRegistry(ctx *pulumi.Context, name string, args RegistryArgs, opts ...pulumi.ResourceOption) (*Registry, error) {
	r := &Registry{Digests: map[string]pulumi.StringOutput{}}
	if err := ctx.RegisterComponentResource("slipway:registry:Registry", name, r, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(r)
	platform, err := platformOf(args.Architecture)
	if err != nil {
		return nil, err
	}
	policy, err := lifecyclePolicy(args.KeepTagged)
	if err != nil {
		return nil, err
	}
	// The builds' inline cache metadata: a pushed image can seed the
	// cache of a later build on another machine.
	buildArgs := map[string]string{"BUILDKIT_INLINE_CACHE": "1"}

	// Registry credentials for the push; the token is valid 12 hours and
	// its password must never reach state in plain text.
	token := ecr.GetAuthorizationTokenOutput(ctx, ecr.GetAuthorizationTokenOutputArgs{}, parent)

	names := slices.Sorted(maps.Keys(args.Contexts))
	var arns pulumi.StringArray
	outputs := pulumi.Map{}
	for _, image := range names {
		dir := stablePath(args.Contexts[image])
		tag, err := contextTag(dir, platform, buildArgs)
		if err != nil {
			return nil, err
		}
		// One repository per image: scanned on push, tags immutable so a
		// digest once deployed can never be swapped under its tag, and no
		// repository policy (only this account's IAM reaches it).
		repo, err := ecr.NewRepository(ctx, image, &ecr.RepositoryArgs{
			ImageTagMutability: pulumi.String("IMMUTABLE"),
			ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{
				ScanOnPush: pulumi.Bool(true),
			},
			EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{
				// AES256 (ECR-managed keys): encryption at rest without a
				// KMS key whose policy would need managing.
				&ecr.RepositoryEncryptionConfigurationArgs{EncryptionType: pulumi.String("AES256")},
			},
			ForceDelete: pulumi.Bool(args.ForceDelete),
		}, parent)
		if err != nil {
			return nil, err
		}
		// Bounded storage: the last N releases stay available to roll
		// back to, interrupted pushes do not accumulate.
		if _, err := ecr.NewLifecyclePolicy(ctx, image, &ecr.LifecyclePolicyArgs{
			Repository: repo.Name,
			Policy:     pulumi.String(policy),
		}, parent); err != nil {
			return nil, err
		}
		ref := pulumi.Sprintf("%s:%s", repo.RepositoryUrl, tag)
		// Whether to push is Slipway's decision, not pulumi-docker's:
		// pulumi-docker rebuilds when its own hash of the context changes,
		// and that hash sees more than the content (file modes beyond the
		// executable bit, so another machine's umask), so from another
		// checkout it would push an unchanged context onto its existing
		// IMMUTABLE tag, which ECR refuses. The tag is the content, so a
		// repository that holds it holds this image: then nothing is
		// pushed. That includes a context reverted to an older image's
		// content that ECR still keeps (the lifecycle policy keeps the
		// last KeepTagged), not only the newest image.
		held := repo.Name.ApplyT(func(name string) (bool, error) {
			return holdsTag(ctx, name, tag, parent)
		}).(pulumi.BoolOutput)
		// Built for the host's platform and pushed by `pulumi up` unless
		// the repository holds the tag. The image is registered either
		// way, with skipPush following the lookup: whether a resource is
		// registered cannot depend on an output (that would mean creating
		// it inside an apply, unseen by preview), and dropping it would
		// delete it from the state. With skipPush, pulumi-docker may still
		// build locally when its own hash differs (or skipPush itself
		// changes), but it never pushes. Preview does not build (no Docker
		// daemon needed); the cache-from image is this same content's
		// image, present when a previous run built it (pulumi-docker v4
		// cannot name "the previous image" of an IMMUTABLE repository
		// without state; see docs/release.md).
		img, err := docker.NewImage(ctx, image, &docker.ImageArgs{
			ImageName: ref,
			Build: &docker.DockerBuildArgs{
				Context:    pulumi.String(dir),
				Dockerfile: pulumi.String(filepath.Join(dir, "Dockerfile")),
				Platform:   pulumi.String(platform),
				Args:       pulumi.ToStringMap(buildArgs),
				CacheFrom:  &docker.CacheFromArgs{Images: pulumi.StringArray{ref}},
			},
			BuildOnPreview: pulumi.Bool(false),
			SkipPush:       held,
			Registry: &docker.RegistryArgs{
				Server:   repo.RepositoryUrl,
				Username: token.UserName(),
				Password: pulumi.ToSecret(token.Password()).(pulumi.StringOutput),
			},
		}, parent)
		if err != nil {
			return nil, err
		}
		// The digest the repository serves under the tag, read after the
		// image: the earlier push's when the tag was held (a skipped
		// push's repoDigest would be a local image ID), this push's
		// otherwise. Either way the tag exists by then, so the lookup
		// cannot fail on a missing image.
		served := ecr.GetImageOutput(ctx, ecr.GetImageOutputArgs{
			RepositoryName: repo.Name,
			ImageTag:       pulumi.String(tag),
		}, parent, pulumi.DependsOn([]pulumi.Resource{img}))
		digest := pulumi.Sprintf("%s@%s", repo.RepositoryUrl, served.ImageDigest())
		r.Digests[image] = digest
		arns = append(arns, repo.Arn)
		outputs[image] = digest
	}
	r.PullGrants = []Grant{
		// The ECR credential helper's token call has no resource-level
		// permissions: AWS requires "*" for it.
		{Sid: "EcrLogin", Actions: []string{"ecr:GetAuthorizationToken"}, Resources: pulumi.ToStringArray([]string{"*"})},
		{Sid: "EcrPull", Actions: []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"}, Resources: arns},
	}
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"digests": outputs})
}
