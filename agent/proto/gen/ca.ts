import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Annotations as _docker_swarmkit_v1_Annotations, Annotations__Output as _docker_swarmkit_v1_Annotations__Output } from './docker/swarmkit/v1/Annotations';
import type { CAClient as _docker_swarmkit_v1_CAClient, CADefinition as _docker_swarmkit_v1_CADefinition } from './docker/swarmkit/v1/CA';
import type { Certificate as _docker_swarmkit_v1_Certificate, Certificate__Output as _docker_swarmkit_v1_Certificate__Output } from './docker/swarmkit/v1/Certificate';
import type { ConfigReference as _docker_swarmkit_v1_ConfigReference, ConfigReference__Output as _docker_swarmkit_v1_ConfigReference__Output } from './docker/swarmkit/v1/ConfigReference';
import type { ConfigSpec as _docker_swarmkit_v1_ConfigSpec, ConfigSpec__Output as _docker_swarmkit_v1_ConfigSpec__Output } from './docker/swarmkit/v1/ConfigSpec';
import type { ContainerSpec as _docker_swarmkit_v1_ContainerSpec, ContainerSpec__Output as _docker_swarmkit_v1_ContainerSpec__Output } from './docker/swarmkit/v1/ContainerSpec';
import type { ContainerStatus as _docker_swarmkit_v1_ContainerStatus, ContainerStatus__Output as _docker_swarmkit_v1_ContainerStatus__Output } from './docker/swarmkit/v1/ContainerStatus';
import type { DiscreteGenericResource as _docker_swarmkit_v1_DiscreteGenericResource, DiscreteGenericResource__Output as _docker_swarmkit_v1_DiscreteGenericResource__Output } from './docker/swarmkit/v1/DiscreteGenericResource';
import type { Driver as _docker_swarmkit_v1_Driver, Driver__Output as _docker_swarmkit_v1_Driver__Output } from './docker/swarmkit/v1/Driver';
import type { EncryptionKey as _docker_swarmkit_v1_EncryptionKey, EncryptionKey__Output as _docker_swarmkit_v1_EncryptionKey__Output } from './docker/swarmkit/v1/EncryptionKey';
import type { EndpointSpec as _docker_swarmkit_v1_EndpointSpec, EndpointSpec__Output as _docker_swarmkit_v1_EndpointSpec__Output } from './docker/swarmkit/v1/EndpointSpec';
import type { EngineDescription as _docker_swarmkit_v1_EngineDescription, EngineDescription__Output as _docker_swarmkit_v1_EngineDescription__Output } from './docker/swarmkit/v1/EngineDescription';
import type { FileTarget as _docker_swarmkit_v1_FileTarget, FileTarget__Output as _docker_swarmkit_v1_FileTarget__Output } from './docker/swarmkit/v1/FileTarget';
import type { GenericResource as _docker_swarmkit_v1_GenericResource, GenericResource__Output as _docker_swarmkit_v1_GenericResource__Output } from './docker/swarmkit/v1/GenericResource';
import type { GenericRuntimeSpec as _docker_swarmkit_v1_GenericRuntimeSpec, GenericRuntimeSpec__Output as _docker_swarmkit_v1_GenericRuntimeSpec__Output } from './docker/swarmkit/v1/GenericRuntimeSpec';
import type { GetRootCACertificateRequest as _docker_swarmkit_v1_GetRootCACertificateRequest, GetRootCACertificateRequest__Output as _docker_swarmkit_v1_GetRootCACertificateRequest__Output } from './docker/swarmkit/v1/GetRootCACertificateRequest';
import type { GetRootCACertificateResponse as _docker_swarmkit_v1_GetRootCACertificateResponse, GetRootCACertificateResponse__Output as _docker_swarmkit_v1_GetRootCACertificateResponse__Output } from './docker/swarmkit/v1/GetRootCACertificateResponse';
import type { HealthConfig as _docker_swarmkit_v1_HealthConfig, HealthConfig__Output as _docker_swarmkit_v1_HealthConfig__Output } from './docker/swarmkit/v1/HealthConfig';
import type { IPAMConfig as _docker_swarmkit_v1_IPAMConfig, IPAMConfig__Output as _docker_swarmkit_v1_IPAMConfig__Output } from './docker/swarmkit/v1/IPAMConfig';
import type { IPAMOptions as _docker_swarmkit_v1_IPAMOptions, IPAMOptions__Output as _docker_swarmkit_v1_IPAMOptions__Output } from './docker/swarmkit/v1/IPAMOptions';
import type { IndexEntry as _docker_swarmkit_v1_IndexEntry, IndexEntry__Output as _docker_swarmkit_v1_IndexEntry__Output } from './docker/swarmkit/v1/IndexEntry';
import type { IssuanceStatus as _docker_swarmkit_v1_IssuanceStatus, IssuanceStatus__Output as _docker_swarmkit_v1_IssuanceStatus__Output } from './docker/swarmkit/v1/IssuanceStatus';
import type { IssueNodeCertificateRequest as _docker_swarmkit_v1_IssueNodeCertificateRequest, IssueNodeCertificateRequest__Output as _docker_swarmkit_v1_IssueNodeCertificateRequest__Output } from './docker/swarmkit/v1/IssueNodeCertificateRequest';
import type { IssueNodeCertificateResponse as _docker_swarmkit_v1_IssueNodeCertificateResponse, IssueNodeCertificateResponse__Output as _docker_swarmkit_v1_IssueNodeCertificateResponse__Output } from './docker/swarmkit/v1/IssueNodeCertificateResponse';
import type { JoinTokens as _docker_swarmkit_v1_JoinTokens, JoinTokens__Output as _docker_swarmkit_v1_JoinTokens__Output } from './docker/swarmkit/v1/JoinTokens';
import type { ManagerStatus as _docker_swarmkit_v1_ManagerStatus, ManagerStatus__Output as _docker_swarmkit_v1_ManagerStatus__Output } from './docker/swarmkit/v1/ManagerStatus';
import type { Mount as _docker_swarmkit_v1_Mount, Mount__Output as _docker_swarmkit_v1_Mount__Output } from './docker/swarmkit/v1/Mount';
import type { NamedGenericResource as _docker_swarmkit_v1_NamedGenericResource, NamedGenericResource__Output as _docker_swarmkit_v1_NamedGenericResource__Output } from './docker/swarmkit/v1/NamedGenericResource';
import type { NetworkAttachmentConfig as _docker_swarmkit_v1_NetworkAttachmentConfig, NetworkAttachmentConfig__Output as _docker_swarmkit_v1_NetworkAttachmentConfig__Output } from './docker/swarmkit/v1/NetworkAttachmentConfig';
import type { NetworkAttachmentSpec as _docker_swarmkit_v1_NetworkAttachmentSpec, NetworkAttachmentSpec__Output as _docker_swarmkit_v1_NetworkAttachmentSpec__Output } from './docker/swarmkit/v1/NetworkAttachmentSpec';
import type { NetworkSpec as _docker_swarmkit_v1_NetworkSpec, NetworkSpec__Output as _docker_swarmkit_v1_NetworkSpec__Output } from './docker/swarmkit/v1/NetworkSpec';
import type { NodeCAClient as _docker_swarmkit_v1_NodeCAClient, NodeCADefinition as _docker_swarmkit_v1_NodeCADefinition } from './docker/swarmkit/v1/NodeCA';
import type { NodeCSIInfo as _docker_swarmkit_v1_NodeCSIInfo, NodeCSIInfo__Output as _docker_swarmkit_v1_NodeCSIInfo__Output } from './docker/swarmkit/v1/NodeCSIInfo';
import type { NodeCertificateStatusRequest as _docker_swarmkit_v1_NodeCertificateStatusRequest, NodeCertificateStatusRequest__Output as _docker_swarmkit_v1_NodeCertificateStatusRequest__Output } from './docker/swarmkit/v1/NodeCertificateStatusRequest';
import type { NodeCertificateStatusResponse as _docker_swarmkit_v1_NodeCertificateStatusResponse, NodeCertificateStatusResponse__Output as _docker_swarmkit_v1_NodeCertificateStatusResponse__Output } from './docker/swarmkit/v1/NodeCertificateStatusResponse';
import type { NodeDescription as _docker_swarmkit_v1_NodeDescription, NodeDescription__Output as _docker_swarmkit_v1_NodeDescription__Output } from './docker/swarmkit/v1/NodeDescription';
import type { NodeSpec as _docker_swarmkit_v1_NodeSpec, NodeSpec__Output as _docker_swarmkit_v1_NodeSpec__Output } from './docker/swarmkit/v1/NodeSpec';
import type { NodeStatus as _docker_swarmkit_v1_NodeStatus, NodeStatus__Output as _docker_swarmkit_v1_NodeStatus__Output } from './docker/swarmkit/v1/NodeStatus';
import type { NodeTLSInfo as _docker_swarmkit_v1_NodeTLSInfo, NodeTLSInfo__Output as _docker_swarmkit_v1_NodeTLSInfo__Output } from './docker/swarmkit/v1/NodeTLSInfo';
import type { Peer as _docker_swarmkit_v1_Peer, Peer__Output as _docker_swarmkit_v1_Peer__Output } from './docker/swarmkit/v1/Peer';
import type { Placement as _docker_swarmkit_v1_Placement, Placement__Output as _docker_swarmkit_v1_Placement__Output } from './docker/swarmkit/v1/Placement';
import type { PlacementPreference as _docker_swarmkit_v1_PlacementPreference, PlacementPreference__Output as _docker_swarmkit_v1_PlacementPreference__Output } from './docker/swarmkit/v1/PlacementPreference';
import type { Platform as _docker_swarmkit_v1_Platform, Platform__Output as _docker_swarmkit_v1_Platform__Output } from './docker/swarmkit/v1/Platform';
import type { PluginDescription as _docker_swarmkit_v1_PluginDescription, PluginDescription__Output as _docker_swarmkit_v1_PluginDescription__Output } from './docker/swarmkit/v1/PluginDescription';
import type { PortConfig as _docker_swarmkit_v1_PortConfig, PortConfig__Output as _docker_swarmkit_v1_PortConfig__Output } from './docker/swarmkit/v1/PortConfig';
import type { PortStatus as _docker_swarmkit_v1_PortStatus, PortStatus__Output as _docker_swarmkit_v1_PortStatus__Output } from './docker/swarmkit/v1/PortStatus';
import type { Privileges as _docker_swarmkit_v1_Privileges, Privileges__Output as _docker_swarmkit_v1_Privileges__Output } from './docker/swarmkit/v1/Privileges';
import type { RaftMemberStatus as _docker_swarmkit_v1_RaftMemberStatus, RaftMemberStatus__Output as _docker_swarmkit_v1_RaftMemberStatus__Output } from './docker/swarmkit/v1/RaftMemberStatus';
import type { ResourceReference as _docker_swarmkit_v1_ResourceReference, ResourceReference__Output as _docker_swarmkit_v1_ResourceReference__Output } from './docker/swarmkit/v1/ResourceReference';
import type { ResourceRequirements as _docker_swarmkit_v1_ResourceRequirements, ResourceRequirements__Output as _docker_swarmkit_v1_ResourceRequirements__Output } from './docker/swarmkit/v1/ResourceRequirements';
import type { Resources as _docker_swarmkit_v1_Resources, Resources__Output as _docker_swarmkit_v1_Resources__Output } from './docker/swarmkit/v1/Resources';
import type { RestartPolicy as _docker_swarmkit_v1_RestartPolicy, RestartPolicy__Output as _docker_swarmkit_v1_RestartPolicy__Output } from './docker/swarmkit/v1/RestartPolicy';
import type { RootCA as _docker_swarmkit_v1_RootCA, RootCA__Output as _docker_swarmkit_v1_RootCA__Output } from './docker/swarmkit/v1/RootCA';
import type { RootRotation as _docker_swarmkit_v1_RootRotation, RootRotation__Output as _docker_swarmkit_v1_RootRotation__Output } from './docker/swarmkit/v1/RootRotation';
import type { RuntimeTarget as _docker_swarmkit_v1_RuntimeTarget, RuntimeTarget__Output as _docker_swarmkit_v1_RuntimeTarget__Output } from './docker/swarmkit/v1/RuntimeTarget';
import type { SecretReference as _docker_swarmkit_v1_SecretReference, SecretReference__Output as _docker_swarmkit_v1_SecretReference__Output } from './docker/swarmkit/v1/SecretReference';
import type { SecretSpec as _docker_swarmkit_v1_SecretSpec, SecretSpec__Output as _docker_swarmkit_v1_SecretSpec__Output } from './docker/swarmkit/v1/SecretSpec';
import type { SpreadOver as _docker_swarmkit_v1_SpreadOver, SpreadOver__Output as _docker_swarmkit_v1_SpreadOver__Output } from './docker/swarmkit/v1/SpreadOver';
import type { TaskSpec as _docker_swarmkit_v1_TaskSpec, TaskSpec__Output as _docker_swarmkit_v1_TaskSpec__Output } from './docker/swarmkit/v1/TaskSpec';
import type { TaskStatus as _docker_swarmkit_v1_TaskStatus, TaskStatus__Output as _docker_swarmkit_v1_TaskStatus__Output } from './docker/swarmkit/v1/TaskStatus';
import type { Topology as _docker_swarmkit_v1_Topology, Topology__Output as _docker_swarmkit_v1_Topology__Output } from './docker/swarmkit/v1/Topology';
import type { Version as _docker_swarmkit_v1_Version, Version__Output as _docker_swarmkit_v1_Version__Output } from './docker/swarmkit/v1/Version';
import type { VolumeAccessMode as _docker_swarmkit_v1_VolumeAccessMode, VolumeAccessMode__Output as _docker_swarmkit_v1_VolumeAccessMode__Output } from './docker/swarmkit/v1/VolumeAccessMode';
import type { VolumeAssignment as _docker_swarmkit_v1_VolumeAssignment, VolumeAssignment__Output as _docker_swarmkit_v1_VolumeAssignment__Output } from './docker/swarmkit/v1/VolumeAssignment';
import type { VolumeAttachment as _docker_swarmkit_v1_VolumeAttachment, VolumeAttachment__Output as _docker_swarmkit_v1_VolumeAttachment__Output } from './docker/swarmkit/v1/VolumeAttachment';
import type { VolumeSecret as _docker_swarmkit_v1_VolumeSecret, VolumeSecret__Output as _docker_swarmkit_v1_VolumeSecret__Output } from './docker/swarmkit/v1/VolumeSecret';
import type { WeightedPeer as _docker_swarmkit_v1_WeightedPeer, WeightedPeer__Output as _docker_swarmkit_v1_WeightedPeer__Output } from './docker/swarmkit/v1/WeightedPeer';
import type { Any as _google_protobuf_Any, Any__Output as _google_protobuf_Any__Output } from './google/protobuf/Any';
import type { BoolValue as _google_protobuf_BoolValue, BoolValue__Output as _google_protobuf_BoolValue__Output } from './google/protobuf/BoolValue';
import type { BytesValue as _google_protobuf_BytesValue, BytesValue__Output as _google_protobuf_BytesValue__Output } from './google/protobuf/BytesValue';
import type { DoubleValue as _google_protobuf_DoubleValue, DoubleValue__Output as _google_protobuf_DoubleValue__Output } from './google/protobuf/DoubleValue';
import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from './google/protobuf/Duration';
import type { FloatValue as _google_protobuf_FloatValue, FloatValue__Output as _google_protobuf_FloatValue__Output } from './google/protobuf/FloatValue';
import type { Int32Value as _google_protobuf_Int32Value, Int32Value__Output as _google_protobuf_Int32Value__Output } from './google/protobuf/Int32Value';
import type { Int64Value as _google_protobuf_Int64Value, Int64Value__Output as _google_protobuf_Int64Value__Output } from './google/protobuf/Int64Value';
import type { StringValue as _google_protobuf_StringValue, StringValue__Output as _google_protobuf_StringValue__Output } from './google/protobuf/StringValue';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp';
import type { UInt32Value as _google_protobuf_UInt32Value, UInt32Value__Output as _google_protobuf_UInt32Value__Output } from './google/protobuf/UInt32Value';
import type { UInt64Value as _google_protobuf_UInt64Value, UInt64Value__Output as _google_protobuf_UInt64Value__Output } from './google/protobuf/UInt64Value';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  docker: {
    swarmkit: {
      v1: {
        Annotations: MessageTypeDefinition<_docker_swarmkit_v1_Annotations, _docker_swarmkit_v1_Annotations__Output>
        CA: SubtypeConstructor<typeof grpc.Client, _docker_swarmkit_v1_CAClient> & { service: _docker_swarmkit_v1_CADefinition }
        Certificate: MessageTypeDefinition<_docker_swarmkit_v1_Certificate, _docker_swarmkit_v1_Certificate__Output>
        ConfigReference: MessageTypeDefinition<_docker_swarmkit_v1_ConfigReference, _docker_swarmkit_v1_ConfigReference__Output>
        ConfigSpec: MessageTypeDefinition<_docker_swarmkit_v1_ConfigSpec, _docker_swarmkit_v1_ConfigSpec__Output>
        ContainerSpec: MessageTypeDefinition<_docker_swarmkit_v1_ContainerSpec, _docker_swarmkit_v1_ContainerSpec__Output>
        ContainerStatus: MessageTypeDefinition<_docker_swarmkit_v1_ContainerStatus, _docker_swarmkit_v1_ContainerStatus__Output>
        DiscreteGenericResource: MessageTypeDefinition<_docker_swarmkit_v1_DiscreteGenericResource, _docker_swarmkit_v1_DiscreteGenericResource__Output>
        Driver: MessageTypeDefinition<_docker_swarmkit_v1_Driver, _docker_swarmkit_v1_Driver__Output>
        EncryptionKey: MessageTypeDefinition<_docker_swarmkit_v1_EncryptionKey, _docker_swarmkit_v1_EncryptionKey__Output>
        EndpointSpec: MessageTypeDefinition<_docker_swarmkit_v1_EndpointSpec, _docker_swarmkit_v1_EndpointSpec__Output>
        EngineDescription: MessageTypeDefinition<_docker_swarmkit_v1_EngineDescription, _docker_swarmkit_v1_EngineDescription__Output>
        FileTarget: MessageTypeDefinition<_docker_swarmkit_v1_FileTarget, _docker_swarmkit_v1_FileTarget__Output>
        GenericResource: MessageTypeDefinition<_docker_swarmkit_v1_GenericResource, _docker_swarmkit_v1_GenericResource__Output>
        GenericRuntimeSpec: MessageTypeDefinition<_docker_swarmkit_v1_GenericRuntimeSpec, _docker_swarmkit_v1_GenericRuntimeSpec__Output>
        GetRootCACertificateRequest: MessageTypeDefinition<_docker_swarmkit_v1_GetRootCACertificateRequest, _docker_swarmkit_v1_GetRootCACertificateRequest__Output>
        GetRootCACertificateResponse: MessageTypeDefinition<_docker_swarmkit_v1_GetRootCACertificateResponse, _docker_swarmkit_v1_GetRootCACertificateResponse__Output>
        HealthConfig: MessageTypeDefinition<_docker_swarmkit_v1_HealthConfig, _docker_swarmkit_v1_HealthConfig__Output>
        IPAMConfig: MessageTypeDefinition<_docker_swarmkit_v1_IPAMConfig, _docker_swarmkit_v1_IPAMConfig__Output>
        IPAMOptions: MessageTypeDefinition<_docker_swarmkit_v1_IPAMOptions, _docker_swarmkit_v1_IPAMOptions__Output>
        IndexEntry: MessageTypeDefinition<_docker_swarmkit_v1_IndexEntry, _docker_swarmkit_v1_IndexEntry__Output>
        IssuanceStatus: MessageTypeDefinition<_docker_swarmkit_v1_IssuanceStatus, _docker_swarmkit_v1_IssuanceStatus__Output>
        IssueNodeCertificateRequest: MessageTypeDefinition<_docker_swarmkit_v1_IssueNodeCertificateRequest, _docker_swarmkit_v1_IssueNodeCertificateRequest__Output>
        IssueNodeCertificateResponse: MessageTypeDefinition<_docker_swarmkit_v1_IssueNodeCertificateResponse, _docker_swarmkit_v1_IssueNodeCertificateResponse__Output>
        JoinTokens: MessageTypeDefinition<_docker_swarmkit_v1_JoinTokens, _docker_swarmkit_v1_JoinTokens__Output>
        ManagerStatus: MessageTypeDefinition<_docker_swarmkit_v1_ManagerStatus, _docker_swarmkit_v1_ManagerStatus__Output>
        Mount: MessageTypeDefinition<_docker_swarmkit_v1_Mount, _docker_swarmkit_v1_Mount__Output>
        NamedGenericResource: MessageTypeDefinition<_docker_swarmkit_v1_NamedGenericResource, _docker_swarmkit_v1_NamedGenericResource__Output>
        NetworkAttachmentConfig: MessageTypeDefinition<_docker_swarmkit_v1_NetworkAttachmentConfig, _docker_swarmkit_v1_NetworkAttachmentConfig__Output>
        NetworkAttachmentSpec: MessageTypeDefinition<_docker_swarmkit_v1_NetworkAttachmentSpec, _docker_swarmkit_v1_NetworkAttachmentSpec__Output>
        NetworkSpec: MessageTypeDefinition<_docker_swarmkit_v1_NetworkSpec, _docker_swarmkit_v1_NetworkSpec__Output>
        NodeCA: SubtypeConstructor<typeof grpc.Client, _docker_swarmkit_v1_NodeCAClient> & { service: _docker_swarmkit_v1_NodeCADefinition }
        NodeCSIInfo: MessageTypeDefinition<_docker_swarmkit_v1_NodeCSIInfo, _docker_swarmkit_v1_NodeCSIInfo__Output>
        NodeCertificateStatusRequest: MessageTypeDefinition<_docker_swarmkit_v1_NodeCertificateStatusRequest, _docker_swarmkit_v1_NodeCertificateStatusRequest__Output>
        NodeCertificateStatusResponse: MessageTypeDefinition<_docker_swarmkit_v1_NodeCertificateStatusResponse, _docker_swarmkit_v1_NodeCertificateStatusResponse__Output>
        NodeDescription: MessageTypeDefinition<_docker_swarmkit_v1_NodeDescription, _docker_swarmkit_v1_NodeDescription__Output>
        NodeRole: EnumTypeDefinition
        NodeSpec: MessageTypeDefinition<_docker_swarmkit_v1_NodeSpec, _docker_swarmkit_v1_NodeSpec__Output>
        NodeStatus: MessageTypeDefinition<_docker_swarmkit_v1_NodeStatus, _docker_swarmkit_v1_NodeStatus__Output>
        NodeTLSInfo: MessageTypeDefinition<_docker_swarmkit_v1_NodeTLSInfo, _docker_swarmkit_v1_NodeTLSInfo__Output>
        Peer: MessageTypeDefinition<_docker_swarmkit_v1_Peer, _docker_swarmkit_v1_Peer__Output>
        Placement: MessageTypeDefinition<_docker_swarmkit_v1_Placement, _docker_swarmkit_v1_Placement__Output>
        PlacementPreference: MessageTypeDefinition<_docker_swarmkit_v1_PlacementPreference, _docker_swarmkit_v1_PlacementPreference__Output>
        Platform: MessageTypeDefinition<_docker_swarmkit_v1_Platform, _docker_swarmkit_v1_Platform__Output>
        PluginDescription: MessageTypeDefinition<_docker_swarmkit_v1_PluginDescription, _docker_swarmkit_v1_PluginDescription__Output>
        PortConfig: MessageTypeDefinition<_docker_swarmkit_v1_PortConfig, _docker_swarmkit_v1_PortConfig__Output>
        PortStatus: MessageTypeDefinition<_docker_swarmkit_v1_PortStatus, _docker_swarmkit_v1_PortStatus__Output>
        Privileges: MessageTypeDefinition<_docker_swarmkit_v1_Privileges, _docker_swarmkit_v1_Privileges__Output>
        RaftMemberStatus: MessageTypeDefinition<_docker_swarmkit_v1_RaftMemberStatus, _docker_swarmkit_v1_RaftMemberStatus__Output>
        ResourceReference: MessageTypeDefinition<_docker_swarmkit_v1_ResourceReference, _docker_swarmkit_v1_ResourceReference__Output>
        ResourceRequirements: MessageTypeDefinition<_docker_swarmkit_v1_ResourceRequirements, _docker_swarmkit_v1_ResourceRequirements__Output>
        ResourceType: EnumTypeDefinition
        Resources: MessageTypeDefinition<_docker_swarmkit_v1_Resources, _docker_swarmkit_v1_Resources__Output>
        RestartPolicy: MessageTypeDefinition<_docker_swarmkit_v1_RestartPolicy, _docker_swarmkit_v1_RestartPolicy__Output>
        RootCA: MessageTypeDefinition<_docker_swarmkit_v1_RootCA, _docker_swarmkit_v1_RootCA__Output>
        RootRotation: MessageTypeDefinition<_docker_swarmkit_v1_RootRotation, _docker_swarmkit_v1_RootRotation__Output>
        RuntimeTarget: MessageTypeDefinition<_docker_swarmkit_v1_RuntimeTarget, _docker_swarmkit_v1_RuntimeTarget__Output>
        SecretReference: MessageTypeDefinition<_docker_swarmkit_v1_SecretReference, _docker_swarmkit_v1_SecretReference__Output>
        SecretSpec: MessageTypeDefinition<_docker_swarmkit_v1_SecretSpec, _docker_swarmkit_v1_SecretSpec__Output>
        SpreadOver: MessageTypeDefinition<_docker_swarmkit_v1_SpreadOver, _docker_swarmkit_v1_SpreadOver__Output>
        TaskSpec: MessageTypeDefinition<_docker_swarmkit_v1_TaskSpec, _docker_swarmkit_v1_TaskSpec__Output>
        TaskState: EnumTypeDefinition
        TaskStatus: MessageTypeDefinition<_docker_swarmkit_v1_TaskStatus, _docker_swarmkit_v1_TaskStatus__Output>
        Topology: MessageTypeDefinition<_docker_swarmkit_v1_Topology, _docker_swarmkit_v1_Topology__Output>
        Version: MessageTypeDefinition<_docker_swarmkit_v1_Version, _docker_swarmkit_v1_Version__Output>
        VolumeAccessMode: MessageTypeDefinition<_docker_swarmkit_v1_VolumeAccessMode, _docker_swarmkit_v1_VolumeAccessMode__Output>
        VolumeAssignment: MessageTypeDefinition<_docker_swarmkit_v1_VolumeAssignment, _docker_swarmkit_v1_VolumeAssignment__Output>
        VolumeAttachment: MessageTypeDefinition<_docker_swarmkit_v1_VolumeAttachment, _docker_swarmkit_v1_VolumeAttachment__Output>
        VolumeSecret: MessageTypeDefinition<_docker_swarmkit_v1_VolumeSecret, _docker_swarmkit_v1_VolumeSecret__Output>
        WeightedPeer: MessageTypeDefinition<_docker_swarmkit_v1_WeightedPeer, _docker_swarmkit_v1_WeightedPeer__Output>
      }
    }
  }
  google: {
    protobuf: {
      Any: MessageTypeDefinition<_google_protobuf_Any, _google_protobuf_Any__Output>
      BoolValue: MessageTypeDefinition<_google_protobuf_BoolValue, _google_protobuf_BoolValue__Output>
      BytesValue: MessageTypeDefinition<_google_protobuf_BytesValue, _google_protobuf_BytesValue__Output>
      DoubleValue: MessageTypeDefinition<_google_protobuf_DoubleValue, _google_protobuf_DoubleValue__Output>
      Duration: MessageTypeDefinition<_google_protobuf_Duration, _google_protobuf_Duration__Output>
      FloatValue: MessageTypeDefinition<_google_protobuf_FloatValue, _google_protobuf_FloatValue__Output>
      Int32Value: MessageTypeDefinition<_google_protobuf_Int32Value, _google_protobuf_Int32Value__Output>
      Int64Value: MessageTypeDefinition<_google_protobuf_Int64Value, _google_protobuf_Int64Value__Output>
      StringValue: MessageTypeDefinition<_google_protobuf_StringValue, _google_protobuf_StringValue__Output>
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
      UInt32Value: MessageTypeDefinition<_google_protobuf_UInt32Value, _google_protobuf_UInt32Value__Output>
      UInt64Value: MessageTypeDefinition<_google_protobuf_UInt64Value, _google_protobuf_UInt64Value__Output>
    }
  }
}

