"""Lists a server's services through grpc.reflection.v1alpha, using stubs
generated from grpc-proto's reflection.proto (no grpcio-reflection needed)."""
import reflection_pb2
import reflection_pb2_grpc


def list_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = stub.ServerReflectionInfo(iter([request]), timeout=5)
    names = set()
    for response in responses:
        for service in response.list_services_response.service:
            names.add(service.name)
    return names
