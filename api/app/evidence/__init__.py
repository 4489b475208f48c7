"""Packet evidence on the central service: sensors upload the packets of their alerts' flows
(``PUT /api/v1/evidence``), analysts download them as pcap and read tshark's dissection.

Design: the sensor pushes, right after the batch naming the alert is stored, the packets of the
alert's flows out of its own pcap ring. The central service never connects to sensors (they sit
behind taps, often unreachable from the SOC), and the packets stay available after the sensor
goes offline or its ring rolls over. When no packets are here the answer says why: they aged out
of the sensor's ring before the upload, the sensor is offline, or it has not uploaded yet.
"""
