/// An optional field Docker always writes — as `null` when it has no value (Go's fields without
/// `omitempty`): a client reading `Config.Entrypoint` or `HostConfig.CapAdd` finds the key, as it
/// does with dockerd. Decoding takes the key missing or null alike.
@propertyWrapper
public struct AlwaysEncoded<Value: Codable>: Codable {
    public var wrappedValue: Value?
    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = c.decodeNil() ? nil : try c.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let v = wrappedValue { try c.encode(v) } else { try c.encodeNil() }
    }
}

extension AlwaysEncoded: Equatable where Value: Equatable {}
extension AlwaysEncoded: Sendable where Value: Sendable {}

extension KeyedDecodingContainer {
    /// A missing key is a nil value (the synthesized decoder would refuse it).
    public func decode<V>(_ type: AlwaysEncoded<V>.Type, forKey key: Key) throws -> AlwaysEncoded<V> {
        AlwaysEncoded(wrappedValue: try decodeIfPresent(V.self, forKey: key))
    }
}
