"""The block producer campaign under pytest, with the profile's settings, plus row coverage."""

from blockfsm.spec.campaigns.producer import ProducerTest

TestProducerCampaign = ProducerTest.TestCase
