import BerthImage
import BerthModels
import BerthRegistry
import BerthSystem
import Foundation

extension Engine {
    /// `POST /auth`: checks the credentials against the registry (`docker login`).
    public func login(_ auth: AuthConfig) async throws {
        let a = auth.normalised
        var server = a.serveraddress ?? ""
        if server.isEmpty || server.contains("index.docker.io") || server.contains("registry-1.docker.io") || server == "docker.io" {
            server = RegistryConfig.hubDomain
        }
        for prefix in ["https://", "http://"] where server.hasPrefix(prefix) { server = String(server.dropFirst(prefix.count)) }
        if let slash = server.firstIndex(of: "/") { server = String(server[..<slash]) }
        let client = RegistryClient(config: config.registries, domain: server, repository: "", credentials: a, actions: [], forPush: true)
        do {
            try await client.verifyLogin()
        } catch let f as RegistryFailure {
            throw BerthError.unauthorized(f.text)
        } catch let e as RegistryUnreachable {
            throw BerthError.system(e.description)
        }
    }
}

extension PullService {
    /// `GET /distribution/{name}/json`: the manifest's descriptor and the platforms it offers.
    public func distribution(_ name: String, auth: AuthConfig?) async throws -> DistributionInspect {
        let ref = try ImageReference(parse: name)
        let client = RegistryClient(config: registries, domain: ref.domain, repository: ref.path, credentials: auth, actions: ["pull"])
        do {
            let m = try await client.manifest(ref.digest?.description ?? ref.tag ?? "latest")
            let desc = DistributionInspect.Descriptor(mediaType: m.mediaType, digest: m.digest.description, size: Int64(m.bytes.count))
            if MediaType.isIndex(m.mediaType) {
                let index = try ManifestIndex.decode(m.bytes, what: "manifest list")
                let platforms = index.manifests.compactMap(\.platform).filter { $0.os != "unknown" }
                    .map { DistributionInspect.Platform(architecture: $0.architecture, os: $0.os, variant: $0.variant) }
                return DistributionInspect(Descriptor: desc, Platforms: platforms)
            }
            let manifest = try ImageManifest.decode(m.bytes, what: "manifest")
            let cfg = try ImageConfigFile.decode(try await client.smallBlob(manifest.config.digest), what: "image config")
            return DistributionInspect(Descriptor: desc, Platforms: [.init(architecture: cfg.architecture ?? ImageStore.arch,
                                                                           os: cfg.os ?? "linux", variant: cfg.variant)])
        } catch {
            throw Self.translate(error, ref: ref)
        }
    }
}
