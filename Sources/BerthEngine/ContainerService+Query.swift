import BerthExecutor
import BerthImage
import BerthModels
import BerthStore
import BerthSystem
import Foundation

extension ContainerService {
    nonisolated func state(_ c: ContainerRecord) -> ContainerState {
        ContainerState(Status: c.status, Running: ContainerStatus(stored: c.status).reportsRunning, Paused: c.status == "paused",
                       Restarting: c.status == "restarting", OOMKilled: c.oom_killed, Dead: c.status == "dead",
                       Pid: Int(c.pid), ExitCode: Int(c.exit_code), Error: c.error,
                       StartedAt: c.started_at > 0 ? Timestamp.rfc3339(nanos: c.started_at) : Timestamp.zero,
                       FinishedAt: c.finished_at > 0 ? Timestamp.rfc3339(nanos: c.finished_at) : Timestamp.zero,
                       Health: health(c))
    }

    /// `GET /containers/{id}/json`, from the database only.
    public nonisolated func inspect(_ ref: String, size: Bool) throws -> ContainerInspect {
        let c = try resolve(ref)
        let config = decode(ContainerConfig.self, c.config) ?? ContainerConfig()
        var hc = decode(HostConfig.self, c.host_config) ?? HostConfig()
        if let links = hc.Links, !links.isEmpty { hc.Links = LegacyLinks.normalized(links, containerName: c.name) }
        let argv = Self.argv(config)
        let p = runtime.paths(c.id)
        let lowers = ((try? images.layerPaths(c.image_id)) ?? []).reversed().joined(separator: ":")
        var out = ContainerInspect(
            Id: c.id, Created: Timestamp.rfc3339(nanos: c.created), Path: argv.first ?? "", Args: Array(argv.dropFirst()),
            State: state(c), Image: c.image_id, ResolvConfPath: p.resolvConf, HostnamePath: p.hostname,
            HostsPath: p.hosts, LogPath: p.log, Name: "/" + c.name, RestartCount: Int(c.restart_count),
            HostConfig: hc,
            GraphDriver: GraphDriver(Name: "overlay2", Data: ["LowerDir": lowers, "UpperDir": p.upper,
                                                             "WorkDir": p.work, "MergedDir": p.rootfs]),
            Mounts: mountPoints(c.id), Config: config,
            NetworkSettings: networks.settings(c, hc, running: isRunning(c)),
            ExecIDs: nil)
        let execs = ((try? store.execs(of: c.id)) ?? []).filter(\.running).map(\.id)
        out.ExecIDs = execs.isEmpty ? nil : execs
        if size {
            out.SizeRw = FS.diskUsage(p.upper)
            out.SizeRootFs = ((try? images.store.image(c.image_id))?.size ?? 0) + (out.SizeRw ?? 0)
        }
        return out
    }

    nonisolated func statusText(_ c: ContainerListRow, now: Int64) -> String {
        switch c.status {
        case "running", "paused":
            let up = "Up " + HumanDuration.string(seconds: (now - c.started_at) / 1_000_000_000)
            return c.status == "paused" ? up + " (Paused)" : up + HealthRules.psSuffix(c.health)
        case "restarting":
            return "Restarting (\(c.exit_code)) " + HumanDuration.string(seconds: (now - c.finished_at) / 1_000_000_000) + " ago"
        case "removing": return "Removal In Progress"
        case "dead": return "Dead"
        case "created": return "Created"
        default:
            if c.finished_at == 0 { return "Exited (\(c.exit_code))" }
            return "Exited (\(c.exit_code)) " + HumanDuration.string(seconds: (now - c.finished_at) / 1_000_000_000) + " ago"
        }
    }

    /// `GET /containers/json`: one read of the narrow columns, filtered in memory, each row's JSON
    /// reused while nothing it shows has changed (encoding dominates the cost of a long list).
    public nonisolated func listJSON(all: Bool, limit: Int?, size: Bool, filters: Filters) throws -> [UInt8] {
        let rows = try listRows(all: all, limit: limit, filters: filters)
        let now = Timestamp.nowNanos()
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(rows.count * 420 + 2)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Mounts are read once, and only when some row is not in the cache.
        var mounts: [String: [MountRecord]]? = nil
        try listCache.withLock { cache in
            for (i, c) in rows.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                let status = statusText(c, now: now)
                if !size, let hit = cache[c.id], hit.row == c, hit.status == status {
                    out += hit.json
                    continue
                }
                if mounts == nil { mounts = (try? store.allMounts()) ?? [:] }
                let json = Array(try encoder.encode(summary(c, status: status, size: size, mounts: mounts!)))
                if !size { cache[c.id] = ListCacheEntry(row: c, status: status, json: json) }
                out += json
            }
            if !filters.has("name") && !filters.has("id") && cache.count > rows.count + 256 {
                let live = Set(rows.map(\.id))
                cache = cache.filter { live.contains($0.key) }
            }
        }
        out += [UInt8(ascii: "]"), UInt8(ascii: "\n")]
        return out
    }

    public nonisolated func list(all: Bool, limit: Int?, size: Bool, filters: Filters) throws -> [ContainerSummary] {
        let now = Timestamp.nowNanos()
        let mounts = (try? store.allMounts()) ?? [:]
        return try listRows(all: all, limit: limit, filters: filters).map { summary($0, status: statusText($0, now: now), size: size, mounts: mounts) }
    }

    nonisolated func summary(_ c: ContainerListRow, status: String, size: Bool, mounts: [String: [MountRecord]]) -> ContainerSummary {
        let labels = c.labels == "{}" ? [:] : (decode([String: String].self, Data(c.labels.utf8)) ?? [:])
        var s = ContainerSummary(Id: c.id, Names: ["/" + c.name], Image: c.image_name, ImageID: c.image_id,
                                 Command: c.command, Created: c.created / 1_000_000_000, Labels: labels,
                                 State: c.status, Status: status, NetworkMode: c.network_mode)
        if size { s.SizeRw = FS.diskUsage(runtime.paths(c.id).upper) }
        if !c.ports.isEmpty { s.Ports = NetworkService.summaryPorts(c.ports) }
        s.Mounts = mountPoints(mounts[c.id] ?? [])
        return s
    }

    nonisolated func listRows(all: Bool, limit: Int?, filters: Filters) throws -> [ContainerListRow] {
        try filters.validate(["id", "name", "status", "label", "label!", "ancestor", "exited", "before", "since",
                              "health", "isolation", "network", "publish", "expose", "volume", "is-task"])
        for s in filters["status"] where !["created", "restarting", "running", "removing", "paused", "exited", "dead"].contains(s) {
            throw BerthError.invalid("invalid filter 'status=\(s)'")
        }
        for h in filters["health"] where !["starting", "healthy", "unhealthy", "none"].contains(h) {
            throw BerthError.invalid("Unrecognised filter value for health: \(h)")
        }
        // A build's step containers are not listed (they go when the step ends).
        var rows = try store.containerList().filter { !ContainerService.isBuildStep(labels: $0.labels) }  // newest first
        func isRunning(_ c: ContainerListRow) -> Bool { ContainerStatus(stored: c.status).reportsRunning }
        if filters.values.isEmpty {  // plain `docker ps [-a]`
            if !all { rows = rows.filter(isRunning) }
            if let limit, limit > 0 { rows = Array(rows.prefix(limit)) }
            return rows
        }
        var beforeTime: Int64? = nil, sinceTime: Int64? = nil
        if let b = filters["before"].first { beforeTime = try resolve(b).created }
        if let s = filters["since"].first { sinceTime = try resolve(s).created }
        let explicitAll = all || filters.has("status") || filters.has("exited") || beforeTime != nil || sinceTime != nil
        var ancestors = Set<String>()
        for a in filters["ancestor"] { if let img = try? images.resolve(a) { ancestors.insert(img.id) } }
        let nameRegexes = filters["name"].compactMap { try? NSRegularExpression(pattern: $0) }
        // volume=NAME|DESTINATION: the containers with such a mount.
        let withVolume = filters.has("volume") ? Set(try store.containersMounting(filters["volume"])) : []
        rows = rows.filter { c in
            if !explicitAll && !isRunning(c) { return false }
            if filters.has("status") && !filters["status"].contains(c.status) { return false }
            if filters.has("id") && !filters["id"].contains(where: { c.id.hasPrefix($0) }) { return false }
            if filters.has("name") {
                let n = "/" + c.name
                if !nameRegexes.contains(where: { $0.firstMatch(in: n, range: NSRange(n.startIndex..., in: n)) != nil }) { return false }
            }
            if filters.has("exited") {
                if isRunning(c) || c.status == "created" { return false }
                if !filters["exited"].contains(String(c.exit_code)) { return false }
            }
            if filters.has("ancestor") && !ancestors.contains(c.image_id) { return false }
            if filters.has("volume") && !withVolume.contains(c.id) { return false }
            if filters.has("health") && !filters["health"].contains(c.health ?? "none") { return false }
            if let b = beforeTime, c.created >= b { return false }
            if let s = sinceTime, c.created <= s { return false }
            if filters.has("label") || filters.has("label!") {
                let labels = c.labels == "{}" ? [:] : (decode([String: String].self, Data(c.labels.utf8)) ?? [:])
                if filters.has("label") && !Filters.labelsMatch(filters["label"], labels) { return false }
                if filters.has("label!") && Filters.labelsMatch(filters["label!"], labels) { return false }
            }
            return true
        }
        if let limit, limit > 0 { rows = Array(rows.prefix(limit)) }
        return rows
    }

    // MARK: commit

    /// `POST /commit`: the container's changes become a new layer on its image.
    public func commit(_ ref: String, repo: String?, tag: String?, author: String?, comment: String?,
                       changes: [String], override: ContainerConfig?, pause: Bool = true) async throws -> String {
        let c = try resolve(ref)
        // A running container is frozen while its layer is read, so the layer is consistent.
        let freeze = pause && c.status == "running"
        if freeze { try await runtime.pause(c.id) }
        defer { if freeze { Task { try? await self.runtime.resume(c.id) } } }
        let base = try images.store.image(c.image_id).map { try images.config($0) }
        guard let cfgFile = base else { throw BerthError.notFound("No such image: \(c.image_id)") }
        var config = override ?? decode(ContainerConfig.self, c.config) ?? ContainerConfig()
        if override != nil, let stored = decode(ContainerConfig.self, c.config) {
            config = Self.merge(config, image: stored)
        }
        try CommitChanges.apply(changes, to: &config)
        config.Hostname = nil; config.Image = nil
        var refs: [String] = []
        if let repo, !repo.isEmpty { refs.append(repo + ((tag ?? "").isEmpty ? "" : ":" + tag!)) }
        let id = try await commitImage(c, base: cfgFile, config: config, createdBy: Self.commandLine(decode(ContainerConfig.self, c.config) ?? config),
                                       author: author, comment: comment, references: refs)
        emit("commit", c, ["comment": comment ?? ""])
        return id
    }

    /// A build step's container becomes an image: its changes a layer over its image, with
    /// exactly `config` (the build's, not the step's command) and `createdBy` in the history.
    /// With `adopt` (the step container is removed next), its writable layer becomes the image's
    /// layer by a rename instead of being archived and unpacked again.
    public func commitForBuild(_ id: String, config: ContainerConfig, createdBy: String, adopt: Bool = false) async throws -> String {
        let c = try resolve(id)
        guard let base = try images.store.image(c.image_id).map({ try images.config($0) }) else {
            throw BerthError.notFound("No such image: \(c.image_id)")
        }
        return try await commitImage(c, base: base, config: config, createdBy: createdBy, author: nil, comment: nil, references: [],
                                     adopt: adopt && !isRunning(c))
    }

    func commitImage(_ c: ContainerRecord, base: ImageConfigFile, config: ContainerConfig, createdBy: String,
                     author: String?, comment: String?, references refs: [String], adopt: Bool = false) async throws -> String {
        var cfgFile = base
        try runtime.prepareLayer(c.id)
        let parent = Digest.chainIDs(cfgFile.rootfs.diff_ids).last
        // Adopted, the overlay goes first: its upper directory is about to become a lower layer.
        if adopt { runtime.unmountRootFS(c.id) }
        let diffID = try await images.commitLayer(from: runtime.paths(c.id).upper, parentChain: parent, overlayUpper: true,
                                                  excluded: ContainerPaths.generatedFiles, adopt: adopt)
        let now = Timestamp.rfc3339(nanos: Timestamp.nowNanos())
        // A container that changed nothing adds no layer (dockerd: an `empty_layer` history entry).
        let empty = diffID == ImageStore.emptyLayerDiffID
        let chain = Digest.chainIDs(cfgFile.rootfs.diff_ids + [diffID]).last!
        if !empty { cfgFile.rootfs.diff_ids.append(diffID) }
        cfgFile.config = config
        cfgFile.container = c.id
        // As dockerd: the container's own configuration at commit time.
        cfgFile.container_config = decode(ContainerConfig.self, c.config)
        cfgFile.created = now
        cfgFile.author = author ?? ""
        cfgFile.comment = comment ?? ""
        cfgFile.docker_version = "berth"
        cfgFile.history = (cfgFile.history ?? []) + [.init(created: now, created_by: createdBy, author: author, comment: comment,
                                                           empty_layer: empty ? true : nil)]
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let bytes = Array(try enc.encode(cfgFile))
        let id: String
        do { id = try await images.register(configBytes: bytes, references: refs, parent: c.image_id).id } catch {
            await images.unpin([chain])
            throw error
        }
        await images.unpin([chain])
        if empty { try? await images.dropUnreferencedLayers() }
        return id
    }
}

/// The Dockerfile instructions `docker commit --change` accepts.
public enum CommitChanges {
    public static func apply(_ changes: [String], to c: inout ContainerConfig) throws {
        for raw in changes {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            let inst = parts[0].uppercased()
            let arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            func list() -> [String] {
                if arg.hasPrefix("["), let d = arg.data(using: .utf8), let a = try? JSONDecoder().decode([String].self, from: d) { return a }
                return ["/bin/sh", "-c", arg]
            }
            switch inst {
            case "CMD": c.Cmd = list()
            case "ENTRYPOINT": c.Entrypoint = list()
            case "WORKDIR": c.WorkingDir = arg
            case "USER": c.User = arg
            case "STOPSIGNAL": c.StopSignal = arg
            case "ENV":
                guard !arg.isEmpty else { throw BerthError.invalid("ENV requires at least one argument") }
                var pairs: [(String, String)] = []
                if arg.contains("=") {
                    for kv in arg.split(separator: " ") {
                        let p = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                        pairs.append((p[0], p.count > 1 ? p[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) : ""))
                    }
                } else {
                    let p = arg.split(separator: " ", maxSplits: 1).map(String.init)
                    pairs.append((p[0], p.count > 1 ? p[1] : ""))
                }
                guard !pairs.contains(where: { $0.0.isEmpty }) else { throw BerthError.invalid("ENV names can not be blank") }
                var env = c.Env ?? []
                for (k, v) in pairs { env.removeAll { $0.hasPrefix(k + "=") }; env.append(k + "=" + v) }
                c.Env = env
            case "LABEL":
                guard !arg.isEmpty else { throw BerthError.invalid("LABEL requires at least one argument") }
                var labels = c.Labels ?? [:]
                for kv in arg.split(separator: " ") {
                    let p = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                        .map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                    guard !p[0].isEmpty else { throw BerthError.invalid("LABEL names can not be blank") }
                    labels[p[0]] = p.count > 1 ? p[1] : ""
                }
                c.Labels = labels
            case "EXPOSE":
                var ports = c.ExposedPorts ?? [:]
                for p in arg.split(separator: " ") { ports[p.contains("/") ? String(p) : p + "/tcp"] = EmptyObject() }
                c.ExposedPorts = ports
            case "VOLUME":
                var vols = c.Volumes ?? [:]
                for v in list().count == 3 && !arg.hasPrefix("[") ? arg.split(separator: " ").map(String.init) : list() { vols[v] = EmptyObject() }
                c.Volumes = vols
            default:
                throw BerthError.invalid("\(inst) is not a valid change command")
            }
        }
    }
}
