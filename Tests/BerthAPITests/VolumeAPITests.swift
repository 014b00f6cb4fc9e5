import BerthEngine
import BerthModels
import BerthSystem
import Foundation
import Testing

/// Volumes and container mounts through the real API, engine and store (FakeRuntime: nothing
/// is mounted; the rows, directories and answers are what is checked).
@Suite struct VolumeAPITests {
    static func harness(_ name: String = #function) async throws -> APIHarness {
        let h = try await APIHarness(name)
        try await h.loadImage(try FakeImage.archive(cmd: ["sleep"]))
        return h
    }

    @Test func volumesAPIAsDockerd() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let made = try await h.request("POST", "/v1.47/volumes/create", json: VolumeCreateRequest(Name: "api-vol", Labels: ["team": "a"]))
        #expect(made.status == 201)
        let v = try JSONDecoder().decode(Volume.self, from: Data(made.body))
        #expect(v.Name == "api-vol" && v.Driver == "local" && v.Scope == "local" && v.Labels == ["team": "a"] && v.Options == nil)
        #expect(v.Mountpoint == h.dir + "/data/volumes/api-vol/_data" && FS.isDirectory(v.Mountpoint))
        #expect(v.CreatedAt.hasSuffix("Z") && !v.CreatedAt.contains("."))
        // Creating it again gives the same volume back.
        #expect(try await h.decode(Volume.self, "POST", "/v1.47/volumes/create", json: VolumeCreateRequest(Name: "api-vol")).CreatedAt == v.CreatedAt)
        let anon = try await h.decode(Volume.self, "POST", "/v1.47/volumes/create", json: VolumeCreateRequest())
        #expect(anon.Name.count == 64 && anon.Labels?[VolumeService.anonymousLabel] == "")

        for (body, status, text) in [
            (VolumeCreateRequest(Name: "a"), 400, "volume name is too short"),
            (VolumeCreateRequest(Name: "../etc"), 400, "includes invalid characters for a local volume name"),
            (VolumeCreateRequest(Name: "x/y"), 400, "includes invalid characters"),
            (VolumeCreateRequest(Name: "ok-name", Driver: "nfs"), 404, "error looking up volume plugin nfs"),
        ] {
            let r = try await h.request("POST", "/v1.47/volumes/create", json: body)
            #expect(r.status == status && r.text.contains(text), "\(body): \(r.status) \(r.text)")
        }
        #expect(!FS.exists(h.dir + "/data/etc"))

        let list = try await h.decode(VolumeListResponse.self, "GET", "/v1.47/volumes")
        #expect(Set(list.Volumes.map(\.Name)) == ["api-vol", anon.Name])
        let byLabel = try await h.decode(VolumeListResponse.self, "GET", "/v1.47/volumes?filters=" + Self.q(["label": ["team=a"]]))
        #expect(byLabel.Volumes.map(\.Name) == ["api-vol"])
        #expect(try await h.request("GET", "/v1.47/volumes?filters=" + Self.q(["bogus": ["1"]])).status == 400)

        // In use: 409 with the users; a plain prune takes the anonymous one only (API ≥ 1.42).
        var hc = HostConfig()
        hc.Binds = ["api-vol:/data"]
        let user = try await h.create(CreateBody(hostConfig: hc))
        let inUse = try await h.request("DELETE", "/v1.47/volumes/api-vol")
        #expect(inUse.status == 409 && inUse.text.contains("remove api-vol: volume is in use - [\(user)]"))
        let dangling = try await h.decode(VolumeListResponse.self, "GET", "/v1.47/volumes?filters=" + Self.q(["dangling": ["true"]]))
        #expect(dangling.Volumes.map(\.Name) == [anon.Name])
        let pruned = try await h.decode(VolumePruneResponse.self, "POST", "/v1.47/volumes/prune")
        #expect(pruned.VolumesDeleted == [anon.Name] && !FS.exists(h.dir + "/data/volumes/" + anon.Name))
        #expect(try await h.request("DELETE", "/v1.47/containers/\(user)").status == 204)
        #expect(try await h.decode(VolumePruneResponse.self, "POST", "/v1.47/volumes/prune").VolumesDeleted.isEmpty)
        #expect(try await h.decode(VolumePruneResponse.self, "POST", "/v1.41/volumes/prune").VolumesDeleted == ["api-vol"])
        #expect(try await h.request("DELETE", "/v1.47/volumes/api-vol").text.contains("get api-vol: no such volume"))
        #expect(try await h.request("DELETE", "/v1.47/volumes/api-vol?force=1").status == 204)
    }

    static func q(_ f: [String: [String]]) -> String {
        String(decoding: try! JSONEncoder().encode(f), as: UTF8.self).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    /// Binds, --mount and anonymous volumes recorded at create: inspect's Mounts and the
    /// HostConfig as given; rm -v takes the anonymous volumes and keeps the named ones.
    @Test func containerMountsAndRemoveWithVolumes() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let bindDir = h.dir + "/bind-src"
        try FS.mkdirAll(bindDir)
        var hc = HostConfig()
        hc.Binds = ["named-a:/data", bindDir + ":/b:ro", h.dir + "/made-by-v:/m"]
        hc.Mounts = [MountSpec(Type: "bind", Source: bindDir, Target: "/m2", ReadOnly: true),
                     MountSpec(Type: "volume", Target: "/anon2"), MountSpec(Type: "tmpfs", Target: "/t")]
        var body = CreateBody(hostConfig: hc)
        body.Volumes = ["/anon": EmptyObject()]
        let id = try await h.create(body)
        #expect(FS.isDirectory(h.dir + "/made-by-v"))   // -v makes a missing source, as dockerd
        let c = try await h.inspect(id)
        #expect(c.HostConfig.Binds == hc.Binds && c.HostConfig.Mounts == hc.Mounts)
        let byDst = Dictionary(uniqueKeysWithValues: c.Mounts.map { ($0.Destination, $0) })
        #expect(byDst["/data"]?.Type == "volume" && byDst["/data"]?.Name == "named-a" && byDst["/data"]?.Mode == "z" && byDst["/data"]?.RW == true)
        #expect(byDst["/b"]?.Type == "bind" && byDst["/b"]?.Mode == "ro" && byDst["/b"]?.RW == false && byDst["/b"]?.Propagation == "rprivate")
        #expect(byDst["/m2"]?.RW == false && byDst["/m2"]?.Mode == "")
        #expect(byDst["/anon"]?.Type == "volume" && byDst["/anon"]?.Name?.count == 64 && byDst["/anon2"]?.Name?.count == 64)
        #expect(byDst["/t"]?.Type == "tmpfs")
        let anonymous = [byDst["/anon"]?.Name, byDst["/anon2"]?.Name].compactMap { $0 }
        let names = Set(try await h.decode(VolumeListResponse.self, "GET", "/v1.47/volumes").Volumes.map(\.Name))
        #expect(names == Set(anonymous + ["named-a"]))

        for (binds, mounts, text) in [
            (["xx:/d", "yy:/d"], [MountSpec](), "Duplicate mount point: /d"),
            (["vol:rel"], [], "invalid mount path: 'rel' mount path must be absolute"),
            (["vol:/d:bogus"], [], "invalid volume specification: 'vol:/d:bogus'"),
            ([], [MountSpec(Type: "bind", Source: "/nonexistent-\(getpid())", Target: "/x")], "bind source path does not exist"),
            ([], [MountSpec(Type: "floppy", Target: "/x")], "mount type unknown"),
            ([], [MountSpec(Type: "volume", Target: "")], "field Target must not be empty"),
        ] {
            var bad = HostConfig()
            bad.Binds = binds
            bad.Mounts = mounts
            let r = try await h.request("POST", "/v1.47/containers/create", json: CreateBody(hostConfig: bad))
            #expect(r.status == 400 && r.text.contains(text), "\(binds) \(mounts): \(r.status) \(r.text)")
        }
        // Nothing was left by the refused creates.
        #expect(Set(try await h.decode(VolumeListResponse.self, "GET", "/v1.47/volumes").Volumes.map(\.Name)) == names)

        // ps shows the mounts, and filters by volume name or destination.
        let listed = try await h.decode([ContainerSummary].self, "GET", "/v1.47/containers/json?all=1&filters=" + Self.q(["volume": ["named-a"]]))
        #expect(listed.map(\.Id) == [id] && listed.first?.Mounts.count == c.Mounts.count)
        #expect(try await h.decode([ContainerSummary].self, "GET", "/v1.47/containers/json?all=1&filters=" + Self.q(["volume": ["/anon"]])).map(\.Id) == [id])
        #expect(try await h.decode([ContainerSummary].self, "GET", "/v1.47/containers/json?all=1&filters=" + Self.q(["volume": ["other"]])).isEmpty)

        #expect(try await h.request("DELETE", "/v1.47/containers/\(id)?v=1").status == 204)
        let left = try await h.decode(VolumeListResponse.self, "GET", "/v1.47/volumes").Volumes.map(\.Name)
        #expect(left == ["named-a"])
        for n in anonymous { #expect(!FS.exists(h.dir + "/data/volumes/" + n)) }
    }

    /// A crash half way through making or removing a volume is finished at the next start.
    @Test func reconcileFinishesVolumeDirectories() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        _ = try await h.decode(Volume.self, "POST", "/v1.47/volumes/create", json: VolumeCreateRequest(Name: "kept"))
        let root = h.dir + "/data/volumes"
        try FS.mkdirAll(root + "/.tmp-half/_data")          // made, no row: goes
        try FS.mkdirAll(root + "/orphan/_data")             // row deleted, directory left: goes
        try FS.mkdirAll(root + "/.trash-old-1234/_data")    // being removed: goes
        let again = try await APIHarness(restarting: h)
        #expect(try await again.decode(VolumeListResponse.self, "GET", "/v1.47/volumes").Volumes.map(\.Name) == ["kept"])
        let entries = try FileManager.default.contentsOfDirectory(atPath: root)
        #expect(entries == ["kept"])
    }
}
