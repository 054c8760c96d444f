package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/acm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// DomainArgs shapes the custom domain of a stack.
type DomainArgs struct {
	Config  stacks.DNSConfig
	Profile stacks.Profile
	// Global is the us-east-1 provider: CloudFront only takes
	// certificates from there.
	Global *aws.Provider
}

// Domain is the stack's custom domain: its hosted zone (looked up, or
// created), a certificate for the apex and www, and once the distribution
// exists, the records that point the names at it.
//
// It is built in two steps because the distribution sits in the middle:
// it needs the validated certificate, and the alias records need the
// distribution. NewDomain creates the zone and certificate; PointAt adds
// the records and completes the component.
type Domain struct {
	pulumi.ResourceState

	Name   string
	ZoneID pulumi.StringOutput
	// name is the component's own name, the prefix of its children's.
	name string
	// NameServers are the created zone's name servers to delegate to at
	// the registrar; empty when the zone was looked up.
	NameServers pulumi.StringArrayOutput
	// CertificateArn resolves once ACM has issued the certificate.
	CertificateArn pulumi.StringOutput
}

// NewDomain finds or creates the zone and issues the certificate.
func NewDomain(ctx *pulumi.Context, name string, args DomainArgs, opts ...pulumi.ResourceOption) (*Domain, error) {
	d := &Domain{Name: args.Config.Domain, name: name}
	if err := ctx.RegisterComponentResource("slipway:dns:Domain", name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)
	prod := args.Profile.ProtectsData()
	zoneID, zoneName := args.Config.Zone()

	d.NameServers = pulumi.StringArray{}.ToStringArrayOutput()
	if args.Config.CreateZone {
		// A created zone is where the domain's delegation points: losing
		// it breaks the site until the registrar is updated, so prod
		// protects it. Review stacks can always be destroyed completely.
		zone, err := route53.NewZone(ctx, name, &route53.ZoneArgs{
			Name:         pulumi.String(zoneName),
			Comment:      pulumi.String("Slipway: " + args.Config.Domain),
			ForceDestroy: pulumi.Bool(args.Profile.Ephemeral()),
		}, parent, pulumi.Protect(prod))
		if err != nil {
			return nil, err
		}
		d.ZoneID = zone.ZoneId
		d.NameServers = zone.NameServers
	} else {
		// An existing public zone, by id or by name.
		lookup := route53.LookupZoneOutputArgs{PrivateZone: pulumi.Bool(false)}
		if zoneID != "" {
			lookup.ZoneId = pulumi.String(zoneID)
		} else {
			lookup.Name = pulumi.String(zoneName)
		}
		d.ZoneID = route53.LookupZoneOutput(ctx, lookup, parent).ZoneId()
	}

	// Only when asked (slipway:caaRecord, default false): only Amazon may
	// then issue certificates for the domain and every name below it that
	// has no CAA record of its own (CAs climb the tree to the nearest CAA
	// record set), which can break certificates other teams issue in the
	// zone; and if the name already has a CAA record set, Route 53 refuses
	// to create a second one. So it is never a default (docs/edge.md).
	if args.Config.CAA {
		if _, err := route53.NewRecord(ctx, name+"-caa", &route53.RecordArgs{
			ZoneId:  d.ZoneID,
			Name:    pulumi.String(args.Config.Domain),
			Type:    pulumi.String("CAA"),
			Ttl:     pulumi.Int(3600),
			Records: pulumi.ToStringArray([]string{`0 issue "amazon.com"`}),
		}, parent); err != nil {
			return nil, err
		}
	}

	arn, err := certificate(ctx, name, args, d)
	if err != nil {
		return nil, err
	}
	d.CertificateArn = arn
	return d, nil
}

// certificateNames are the names on the certificate, apex first.
func certificateNames(domain string) []string { return []string{domain, "www." + domain} }

// certificate is the ACM certificate for the apex and www, in us-east-1,
// validated by DNS. One validation record per name; each record takes its
// values from the validation option of its own name, so the records do not
// depend on the order ACM lists the options in and a re-run never replaces
// them (nor, through them, the certificate).
func certificate(ctx *pulumi.Context, name string, args DomainArgs, d *Domain) (pulumi.StringOutput, error) {
	global := []pulumi.ResourceOption{pulumi.Parent(d), pulumi.Provider(args.Global)}
	names := certificateNames(args.Config.Domain)
	cert, err := acm.NewCertificate(ctx, name, &acm.CertificateArgs{
		DomainName:              pulumi.String(names[0]),
		SubjectAlternativeNames: pulumi.ToStringArray(names[1:]),
		ValidationMethod:        pulumi.String("DNS"),
	}, global...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	var fqdns pulumi.StringArray
	for i, n := range names {
		option := cert.DomainValidationOptions.ApplyT(func(opts []acm.CertificateDomainValidationOption) (acm.CertificateDomainValidationOption, error) {
			for _, o := range opts {
				if o.DomainName != nil && *o.DomainName == n {
					return o, nil
				}
			}
			return acm.CertificateDomainValidationOption{}, fmt.Errorf("ACM gave no DNS validation option for %s", n)
		}).(acm.CertificateDomainValidationOptionOutput)
		// The validation CNAME is the same for every certificate of this
		// name in the account, so it may already exist (a certificate
		// issued before, a stack recreated): overwriting it with the same
		// value is safe.
		record, err := route53.NewRecord(ctx, fmt.Sprintf("%s-validation-%s", name, []string{"apex", "www"}[i]), &route53.RecordArgs{
			ZoneId:         d.ZoneID,
			Name:           option.ResourceRecordName().Elem(),
			Type:           option.ResourceRecordType().Elem(),
			Records:        pulumi.StringArray{option.ResourceRecordValue().Elem()},
			Ttl:            pulumi.Int(300),
			AllowOverwrite: pulumi.Bool(true),
		}, pulumi.Parent(d))
		if err != nil {
			return pulumi.StringOutput{}, err
		}
		fqdns = append(fqdns, record.Fqdn)
	}
	// Waits until ACM has issued the certificate; the distribution takes
	// its ARN from here, so it is created only with a usable certificate.
	validation, err := acm.NewCertificateValidation(ctx, name, &acm.CertificateValidationArgs{
		CertificateArn:        cert.Arn,
		ValidationRecordFqdns: fqdns,
	}, global...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return validation.CertificateArn, nil
}

// AliasTarget is what the domain's names point at: a CloudFront
// distribution's domain name and its hosted zone id.
type AliasTarget struct {
	DomainName   pulumi.StringInput
	HostedZoneID pulumi.StringInput
}

// PointAt creates the A and AAAA alias records of the apex and www (the
// function redirects www to the apex) and completes the component.
func (d *Domain) PointAt(ctx *pulumi.Context, target AliasTarget) error {
	for i, n := range certificateNames(d.Name) {
		label := []string{"apex", "www"}[i]
		for _, typ := range []string{"A", "AAAA"} {
			// Alias records cost nothing per query and follow the
			// distribution's addresses; the zone id is the distribution's
			// own, never a literal.
			if _, err := route53.NewRecord(ctx, fmt.Sprintf("%s-%s-%s", d.name, label, typ), &route53.RecordArgs{
				ZoneId: d.ZoneID,
				Name:   pulumi.String(n),
				Type:   pulumi.String(typ),
				Aliases: route53.RecordAliasArray{route53.RecordAliasArgs{
					Name:                 target.DomainName,
					ZoneId:               target.HostedZoneID,
					EvaluateTargetHealth: pulumi.Bool(false),
				}},
			}, pulumi.Parent(d)); err != nil {
				return err
			}
		}
	}
	return ctx.RegisterResourceOutputs(d, pulumi.Map{
		"zoneId":         d.ZoneID,
		"nameServers":    d.NameServers,
		"certificateArn": d.CertificateArn,
	})
}
